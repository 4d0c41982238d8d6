"""Intake's settings: the shared service settings under the `INTAKE_` prefix."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Read from `INTAKE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = 8101
    erasure_confirm_within_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Alert when a service has not confirmed an erasure this long after approval",
    )
    erasure_check_seconds: float = Field(
        default=30.0, gt=0, description="How often the erasure alert gauge is sampled"
    )
