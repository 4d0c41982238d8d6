"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alamal_runtime.retention.policy import Category

type Profile = Literal["dev", "test", "prod"]


class ServiceSettings(BaseSettings):
    """Configuration every service reads from its prefixed environment (e.g. `INTAKE_`)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "service"
    profile: Profile = "prod"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_socket_fds: str = Field(
        default="",
        pattern=r"^[0-9,]{0,100}$",
        description="Comma-separated numbers of listening sockets inherited from the embedded"
        " stack's runner, served instead of binding http_host:http_port (the runner binds the"
        " ports, so replicas share one and a probe never meets an unbound port)",
    )
    exit_with_pid: int | None = Field(
        default=None,
        ge=1,
        description="Stop (draining, as on SIGTERM) once the process with this id is gone: the"
        " embedded stack's runner sets it, so no service outlives a runner that was killed",
    )
    store_url: SecretStr = Field(
        description="sqlite:///path/to/file.sqlite3 or mongodb://[user:password@]host/database;"
        " secret because a MongoDB URL can carry credentials"
    )
    kafka_bootstrap: str = Field(description="host:port[,host:port] of the Kafka brokers")
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_session_timeout_ms: int = Field(default=6000, ge=1000)
    kafka_fetch_max_wait_ms: int | None = Field(
        default=None,
        ge=1,
        le=30_000,
        description="How long a consumer's fetch may wait at the broker for records (default:"
        " 500 in the prod profile, for Apache Kafka; 20 in dev and test, which run on Tansu:"
        " Tansu answers a waiting fetch only when the wait is over, not when records arrive)",
    )
    kafka_consumer_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Consumer group of this service's subscribers (default alamal-<service>)",
    )
    token_public_key_file: Path | None = None
    token_public_key: str | None = Field(
        default=None, description="PEM of the gateway's Ed25519 token verification key"
    )
    token_issuer: str = "alamal-gateway"  # noqa: S105 - an issuer name, not a secret
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    handler_retries: int = Field(default=3, ge=0, le=20)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_seconds: float = Field(
        default=30 * 24 * 3600.0,
        ge=0,
        description="How long published outbox messages are kept, to publish them again to a"
        " new broker incarnation (the embedded Tansu loses everything when it restarts) and as"
        " the source of a projection rebuild; 0 keeps them for ever",
    )
    outbox_trim_interval_seconds: float = Field(default=600.0, gt=0)
    broker_watch_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the consumer asks the broker's cluster id: a new broker"
        " incarnation (the embedded broker restarted) is then read from its beginning",
    )
    relay_lease_seconds: float = Field(
        default=6.0,
        ge=0.5,
        le=120,
        description="Time to live of the outbox relay lease (one replica relays at a time):"
        " renewed every third of it; a replica silent for this long is taken over",
    )
    store_min_free_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Readiness fails when the disk of a file-backed store (SQLite) has less"
        " free space than this (0: no check); the store must also take a write",
    )
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    drain_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="On SIGTERM, after the HTTP side stopped: how long the service keeps"
        " publishing its outbox and consuming until both are quiet, before it stops",
    )
    drain_quiet_seconds: float | None = Field(
        default=None,
        ge=0,
        le=30,
        description="How long, from the start of a drain, the outbox must stay empty and the"
        " consumers idle with no lag for the drain to end early (default 1 s; 0.2 s in the"
        " test profile, whose services run in-process one test module at a time)",
    )
    trace_link: str | None = Field(
        default=None,
        pattern=r"^https?://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9._~/-]*\{trace_id\}[A-Za-z0-9._~/-]*$",
        description="A trace's page in the trace UI, with `{trace_id}` where its id goes"
        " (Jaeger: http://host:16686/trace/{trace_id}; the embedded stack's Phoenix sets it);"
        " the operator page links trace ids to it",
    )
    forwarded_allow_ips: str = Field(
        default="",
        pattern=r"^[0-9A-Fa-f.:/, ]{0,400}$",
        description="Comma-separated addresses or networks of trusted reverse proxies whose"
        " X-Forwarded-For/-Proto are believed; empty (the default) trusts no forwarder, so no"
        " client can choose the address it is seen with",
    )
    data_dir: Path | None = Field(
        default=None, description="The service's own folder (dev/test: generated keys live there)"
    )
    kek: SecretStr | None = Field(
        default=None,
        description="Key-encryption keyring: urlsafe-base64 256-bit keys, comma separated;"
        " the first wraps new data keys, the others still unwrap (rotation)",
    )
    kek_file: Path | None = Field(
        default=None, description="File holding the key-encryption keyring, one key per line"
    )
    retention_day_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="Length of one retention day in seconds: 86400 in production; tests"
        " compress the retention clock with a fraction of a second (docs/retention.md)",
    )
    retention_interval_seconds: float = Field(
        default=3_600.0, gt=0, description="How often the retention rules run"
    )
    retention_keep_days: dict[Category, int] = Field(
        default_factory=dict,
        description='Days kept per category, over the defaults, as JSON: {"closed-case": 730,'
        ' "private-notes": 365, "audit-records": 1825, "delivery-logs": 90,'
        ' "dead-letters": 90} (docs/retention.md)',
    )
    bench_unsealed: bool = Field(
        default=False,
        description="dev/test only, for benchmarks: store personal data unsealed, to measure"
        " what sealing costs; refused in prod",
    )

    @model_validator(mode="after")
    def _never_unsealed_in_prod(self) -> ServiceSettings:
        if self.bench_unsealed and self.profile == "prod":
            raise ValueError("BENCH_UNSEALED is for benchmarks only: prod always seals")
        return self

    @model_validator(mode="after")
    def _require_token_key(self) -> ServiceSettings:
        if self.token_public_key is None and self.token_public_key_file is None:
            raise ValueError("set TOKEN_PUBLIC_KEY or TOKEN_PUBLIC_KEY_FILE (gateway's public key)")
        return self

    def drain_quiet(self) -> float:
        """The quiet time that ends a drain (the setting, or the profile's default)."""
        if self.drain_quiet_seconds is not None:
            return self.drain_quiet_seconds
        return 0.2 if self.profile == "test" else 1.0

    @model_validator(mode="after")
    def _keep_days_positive(self) -> ServiceSettings:
        for category, days in self.retention_keep_days.items():
            if not 1 <= days <= 36_600:
                raise ValueError(f"RETENTION_KEEP_DAYS: {category.value} must be 1 to 36600 days")
        return self

    def fetch_max_wait_ms(self) -> int:
        """The consumer fetch wait to use (the setting, or the profile's default)."""
        if self.kafka_fetch_max_wait_ms is not None:
            return self.kafka_fetch_max_wait_ms
        return 500 if self.profile == "prod" else 20

    def token_public_key_pem(self) -> str:
        """The verification key's PEM text, from the setting or its file."""
        if self.token_public_key is not None:
            return self.token_public_key
        if self.token_public_key_file is None:
            raise ValueError("no token verification key configured")
        return self.token_public_key_file.read_text(encoding="ascii")
