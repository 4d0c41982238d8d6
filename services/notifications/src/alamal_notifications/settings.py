"""Notifications' settings: the shared service settings under the `NOTIFICATIONS_` prefix."""

from pydantic_settings import SettingsConfigDict

from alamal_runtime.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    """Read from `NOTIFICATIONS_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", frozen=True)

    service_name: str = "notifications"
    http_port: int = 8103
