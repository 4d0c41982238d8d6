"""Cases' settings: the shared service settings under the `CASES_` prefix."""

from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class CasesSettings(ServiceSettings):
    """Read from `CASES_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CASES_", extra="ignore", frozen=True)

    service_name: str = "cases"
    http_port: int = 8102
