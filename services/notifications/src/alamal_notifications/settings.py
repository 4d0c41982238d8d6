"""Notifications' settings: the shared service settings under the `NOTIFICATIONS_` prefix."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings

# About 27 hours in all, like the best-known webhook services: right away, then 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h and 10 h after the previous attempt.
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class NotificationsSettings(ServiceSettings):
    """Read from `NOTIFICATIONS_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", frozen=True)

    service_name: str = "notifications"
    http_port: int = 8103
    public_base_url: str = Field(
        default="http://127.0.0.1:8103",
        description="Base URL partners reach the partner API at (https in prod)",
    )
    data_dir: Path | None = Field(
        default=None, description="The service's own folder (dev/test: generated secrets key)"
    )
    secrets_key: SecretStr | None = Field(
        default=None, description="Fernet key that encrypts endpoint secrets at rest"
    )
    secrets_key_file: Path | None = None
    retry_schedule_seconds: tuple[float, ...] = Field(
        default=DEFAULT_RETRY_SCHEDULE,
        min_length=1,
        description="Delay before each retry after the first attempt (seconds)",
    )
    retry_jitter: float = Field(default=0.2, ge=0, le=1, description="+- fraction of a delay")
    retry_after_cap_seconds: float = Field(default=3600.0, gt=0)
    delivery_timeout_seconds: float = Field(default=15.0, gt=0)
    disable_after_failing_seconds: float = Field(
        default=5 * 24 * 3600.0, gt=0, description="Disable an endpoint failing this long"
    )
    max_concurrent_deliveries: int = Field(default=64, ge=1)
    per_endpoint_concurrency: int = Field(default=4, ge=1)
    dispatch_poll_seconds: float = Field(default=1.0, gt=0)
    delivery_slots: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Endpoints are split into this many slots, each delivered by one replica at a"
        " time under its lease; the same value on every replica",
    )
    delivery_lease_seconds: float = Field(
        default=6.0,
        ge=0.5,
        le=120,
        description="Time to live of a delivery slot's lease: renewed every third of it; the slots"
        " of a replica silent this long are taken over by the others",
    )
    rotation_overlap_seconds: float = Field(default=24 * 3600.0, ge=0)
    response_excerpt_bytes: int = Field(default=256, ge=0, le=4096)
    allowed_cidrs: tuple[str, ...] = Field(
        default=(), description="Networks endpoints may resolve to despite being private"
    )

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _positive_delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must not be negative")
        return value

    @model_validator(mode="after")
    def _prod_rules(self) -> NotificationsSettings:
        if self.profile == "prod":
            if self.secrets_key is None and self.secrets_key_file is None:
                raise ValueError("prod needs SECRETS_KEY or SECRETS_KEY_FILE (endpoint secrets)")
            if not self.public_base_url.startswith("https://"):
                raise ValueError("prod needs an https PUBLIC_BASE_URL")
        return self

    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The allow-listed networks, parsed."""
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_cidrs)
