"""Gateway settings: the shared service settings plus keys, peers, sessions and login limits."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AnyHttpUrl, Field, model_validator
from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Read from `GATEWAY_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    service_name: str = "gateway"
    http_port: int = 8100
    token_signing_key_file: Path | None = Field(
        default=None, description="PEM of the Ed25519 key the gateway signs service tokens with"
    )
    token_signing_key: str | None = Field(default=None, description="The same key as PEM text")
    token_ttl_seconds: int = Field(default=120, ge=10, le=900)
    intake_url: AnyHttpUrl | None = None
    cases_url: AnyHttpUrl | None = None
    notifications_url: AnyHttpUrl | None = None
    reporting_url: AnyHttpUrl | None = None
    service_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    data_dir: Path | None = None
    demo_users: bool = Field(default=False, description="dev profile only: create demo users")
    session_idle_seconds: int = Field(default=30 * 60, ge=30)
    session_absolute_seconds: int = Field(default=10 * 3600, ge=60)
    login_max_failures: int = Field(default=5, ge=1, description="failures before a lockout")
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    login_ip_max_attempts: int = Field(
        default=30, ge=1, description="login attempts per client address per window"
    )

    @model_validator(mode="after")
    def _require_token_key(self) -> GatewaySettings:
        # The gateway verifies with the public half of its own signing key.
        if self.token_signing_key is None and self.token_signing_key_file is None:
            raise ValueError("set TOKEN_SIGNING_KEY or TOKEN_SIGNING_KEY_FILE (Ed25519 PEM)")
        if self.demo_users and self.profile != "dev":
            raise ValueError("DEMO_USERS is allowed in the dev profile only")
        return self

    def signing_key_pem(self) -> str:
        """The signing key's PEM text, from the setting or its file."""
        if self.token_signing_key is not None:
            return self.token_signing_key
        if self.token_signing_key_file is None:
            raise ValueError("no token signing key configured")
        return self.token_signing_key_file.read_text(encoding="ascii")

    def token_public_key_pem(self) -> str:
        """The verification key: derived from the signing key, so they always match."""
        key = serialization.load_pem_private_key(self.signing_key_pem().encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the token signing key is not an Ed25519 key")
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
