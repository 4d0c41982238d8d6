"""Reporting' settings: the shared service settings under the `REPORTING_` prefix."""

from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Read from `REPORTING_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    service_name: str = "reporting"
    http_port: int = 8104
