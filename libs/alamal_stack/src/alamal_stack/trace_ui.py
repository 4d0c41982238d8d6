"""The optional trace UI of the embedded stack: Arize Phoenix, started by `./alamal run --traces`.

Phoenix is the only trace UI installable from the package registries here. It is large and
under the Elastic License 2.0 (free to run for yourself; not to offer as a managed service), so
it is never part of the workspace: it lives in its own project, `tools/trace-ui/` (its own
`uv.lock`, its own `.venv`), installed the first time `--traces` is given and never by
`./alamal run` or `./alamal test` without it. It runs as one more child process on 127.0.0.1
with its data under `<data>/trace-ui/`; every service exports its (redacted) spans to it over
OTLP/HTTP. Phoenix files spans under the resource's `openinference.project.name` and shows
span attributes only, so the services' `service.name` is copied onto each span
(`alamal_runtime.telemetry.ServiceNameOnSpans`) and all of them go to one project, `alamal`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import structlog

from alamal_stack.processes import LOCALHOST, StackError, free_port, log_tail, stop_process

log = structlog.get_logger(__name__)

PROJECT_DIR_ENV = "ALAMAL_TRACE_UI_PROJECT"
PROJECT = "alamal"
"""The Phoenix project every service's spans go to."""
_PROJECT_PATH = Path("tools") / "trace-ui"


def project_dir() -> Path:
    """`tools/trace-ui` of this checkout (or `$ALAMAL_TRACE_UI_PROJECT`)."""
    if given := os.environ.get(PROJECT_DIR_ENV):
        return Path(given).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / _PROJECT_PATH / "pyproject.toml").is_file():
                return folder / _PROJECT_PATH
    raise StackError("tools/trace-ui is not in this checkout: --traces needs the repository")


def find_uv() -> str:
    """The uv that runs us (`uv run` sets $UV), one on PATH, or the checkout's own."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    own = project_dir().parents[1] / ".ci" / ".tools" / "bin" / "uv"
    if own.is_file():
        return str(own)
    raise StackError("--traces installs the trace UI with uv: run it through `./alamal run`")


def install(project: Path) -> Path:
    """Install (or check) the trace UI's locked environment; return its `phoenix` command."""
    command = project / ".venv" / "bin" / "phoenix"
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - fixed argv
        [find_uv(), "sync", "--frozen", "--quiet", "--project", str(project), "-p", sys.executable],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"UV_PYTHON_DOWNLOADS": "never"},
    )
    if result.returncode != 0 or not command.is_file():
        raise StackError(f"installing the trace UI failed:\n{result.stderr.strip()[-2000:]}")
    log.info("trace_ui.installed", seconds=round(time.perf_counter() - started, 1))
    return command


class TraceUI:
    """Phoenix as a child process on a free port, its data in `data_dir`."""

    def __init__(self, data_dir: Path, *, log_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_dir / "trace-ui.log"
        self.port = port or free_port()
        self.startup_seconds: float | None = None
        self.ready_timeout = 300.0
        """Phoenix's first start migrates its database: ~100 s on a loaded 2-core machine."""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The UI in a browser."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The Phoenix process, once started."""
        return None if self._proc is None else self._proc.pid

    def service_env(self) -> dict[str, str]:
        """What every service needs to export its spans here (and only its spans)."""
        return {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{self.url}/v1/traces",
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
        }

    def trace_link(self, trace_id: str) -> str:
        """The UI's page of one trace."""
        return f"{self.url}/redirects/traces/{trace_id}"

    async def start(self) -> None:
        """Install if needed, start Phoenix and wait until it answers."""
        command = await asyncio.to_thread(install, project_dir())
        started = time.perf_counter()
        proc = self._spawn(command)
        await self._wait_ready(proc, self.ready_timeout)
        self.startup_seconds = time.perf_counter() - started
        log.info("trace_ui.ready", url=self.url, seconds=round(self.startup_seconds, 1))

    def _spawn(self, command: Path) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.data_dir)),
            "PHOENIX_HOST": LOCALHOST,
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_WORKING_DIR": str(self.data_dir),
            "PHOENIX_PROJECT_NAME": PROJECT,
            # A local tool: no usage telemetry, no fonts or scripts from the internet, no
            # AI assistant.
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
        }
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [str(command), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
            )
        return self._proc

    async def _wait_ready(self, proc: subprocess.Popen[bytes], within: float) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if proc.poll() is not None:
                    tail = log_tail(self.log_path)
                    raise StackError(f"the trace UI exited before it was ready:\n{tail}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StackError(f"the trace UI was not ready within {within:.0f}s")
                await asyncio.sleep(0.25)

    def rss_bytes(self) -> int | None:
        """Resident memory of the Phoenix process (Linux), for the operator's figures."""
        if self._proc is None:
            return None
        try:
            status = Path(f"/proc/{self._proc.pid}/status").read_text(encoding="ascii")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    async def stop(self) -> None:
        """Stop Phoenix (SIGTERM, then SIGKILL)."""
        if self._proc is not None:
            await asyncio.to_thread(stop_process, self._proc, 10.0)
            self._proc = None
