"""The platform's services as data, and the environment contract the runner gives each one."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alamal_stack.processes import LOCALHOST

DEFAULT_BASE_PORT = 8100


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service: its name, the module run as `python -m`, its env prefix and default port."""

    name: str
    module: str
    env_prefix: str
    default_port: int
    signs_tokens: bool = False
    """Holds the token signing key (the gateway only); every other service only verifies."""
    calls_services: bool = False
    """Is told every other service's URL as `<PREFIX><NAME>_URL` (the gateway only)."""
    public_url: bool = False
    """Is told its own URL as `<PREFIX>PUBLIC_BASE_URL` (for links it hands out)."""
    dev_env: tuple[tuple[str, str], ...] = ()
    """Settings (without prefix) the embedded stack sets unless the environment does."""

    def port(self, base_port: int | None) -> int:
        """The port for this service: its default, or shifted to start at `base_port`."""
        if base_port is None:
            return self.default_port
        return base_port + self.default_port - DEFAULT_BASE_PORT

    def command(self) -> list[str]:
        """The argv that starts this service with the runner's interpreter."""
        return [sys.executable, "-m", self.module]


# Adding a service is one line here.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("intake", "alamal_intake", "INTAKE_", 8101),
    ServiceSpec("cases", "alamal_cases", "CASES_", 8102),
    ServiceSpec(
        "notifications",
        "alamal_notifications",
        "NOTIFICATIONS_",
        8103,
        public_url=True,
        # Partners' receivers in the embedded stack and its tests run on this machine.
        dev_env=(("ALLOWED_CIDRS", '["127.0.0.1/32"]'),),
    ),
    ServiceSpec("reporting", "alamal_reporting", "REPORTING_", 8104),
    ServiceSpec(
        "gateway", "alamal_gateway", "GATEWAY_", 8100, signs_tokens=True, calls_services=True
    ),
)

# Operating-system basics a Python child needs; everything else is set explicitly below.
_INHERITED = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def select_services(
    only: Iterable[str] | None = None, registry: Iterable[ServiceSpec] = SERVICES
) -> tuple[ServiceSpec, ...]:
    """The specs named in `only` (all when None), in registry order; ValueError on unknown."""
    specs = tuple(registry)
    if only is None:
        return specs
    wanted = {name.strip() for name in only if name.strip()}
    unknown = wanted - {s.name for s in specs}
    if unknown:
        known = ", ".join(s.name for s in specs)
        raise ValueError(f"unknown service(s): {', '.join(sorted(unknown))} (known: {known})")
    return tuple(s for s in specs if s.name in wanted)


def store_url(spec: ServiceSpec, data_dir: Path) -> str:
    """SQLite URL of the service's own store file under the data folder."""
    return f"sqlite:///{data_dir.resolve() / spec.name / f'{spec.name}.sqlite3'}"


def mongodb_store_url(spec: ServiceSpec, server_url: str, prefix: str = "alamal_") -> str:
    """The service's own database (`alamal_<name>`) on a MongoDB server, options kept."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{prefix}{spec.name}"))


def service_env(
    spec: ServiceSpec,
    *,
    port: int,
    data_dir: Path,
    bootstrap: str,
    verify_key: Path,
    partitions: int,
    environ: Mapping[str, str],
    signing_key: Path | None = None,
    peers: Mapping[str, str] | None = None,
    runner_pid: int | None = None,
    store: str | None = None,
) -> dict[str, str]:
    """The complete environment for one service process (nothing else is inherited).

    Passed through from `environ`: OS basics, every `OTEL_*`, any `<PREFIX>*` the runner does
    not set itself, and `<PREFIX>LOG_LEVEL` (falling back to plain `LOG_LEVEL`). `DATA_DIR` is
    the service's own folder (dev-only material such as a generated encryption key lives there).
    A service that signs tokens gets `signing_key`; one that calls services gets `peers`' URLs.
    `store` is its store URL (default: its SQLite file under `data_dir`).
    With `runner_pid` the service stops (draining) once that process is gone.
    """
    p = spec.env_prefix
    env = {k: v for k, v in environ.items() if k in _INHERITED or k.startswith("LC_")}
    env |= {k: v for k, v in environ.items() if k.startswith(("OTEL_", p))}
    if f"{p}LOG_LEVEL" not in env and "LOG_LEVEL" in environ:
        env[f"{p}LOG_LEVEL"] = environ["LOG_LEVEL"]
    env |= {
        "PYTHONUNBUFFERED": "1",  # log lines reach the log file as they happen
        f"{p}PROFILE": "dev",
        f"{p}HTTP_HOST": LOCALHOST,
        f"{p}HTTP_PORT": str(port),
        f"{p}STORE_URL": store or store_url(spec, data_dir),
        f"{p}KAFKA_BOOTSTRAP": bootstrap,
        f"{p}KAFKA_TOPIC_PARTITIONS": str(partitions),
        f"{p}TOKEN_PUBLIC_KEY_FILE": str(verify_key.resolve()),
        f"{p}DATA_DIR": str((data_dir / spec.name).resolve()),
    }
    if runner_pid is not None:
        env[f"{p}EXIT_WITH_PID"] = str(runner_pid)
    if spec.signs_tokens:
        if signing_key is None:
            raise ValueError(f"{spec.name} signs tokens: pass the signing key")
        env[f"{p}TOKEN_SIGNING_KEY_FILE"] = str(signing_key.resolve())
    if spec.public_url:
        env[f"{p}PUBLIC_BASE_URL"] = f"http://{LOCALHOST}:{port}"
    for name, value in spec.dev_env:
        env.setdefault(f"{p}{name}", value)
    if spec.calls_services:
        for name, url in (peers or {}).items():
            if name != spec.name:
                env[f"{p}{name.upper()}_URL"] = url
    return env
