"""Intake's settings: the shared service settings under the `INTAKE_` prefix."""

from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Read from `INTAKE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = 8101
