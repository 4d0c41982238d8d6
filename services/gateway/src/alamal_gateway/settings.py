"""Gateway' settings: the shared service settings under the `GATEWAY_` prefix."""

from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Read from `GATEWAY_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    service_name: str = "gateway"
    http_port: int = 8100
