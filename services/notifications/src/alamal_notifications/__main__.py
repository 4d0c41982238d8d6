"""Run the notifications service: `python -m alamal_notifications` (NOTIFICATIONS_* variables)."""

from alamal_notifications.app import create_app
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.main import serve

if __name__ == "__main__":
    serve(NotificationsSettings, create_app)
