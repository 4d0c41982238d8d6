"""The source notifications names itself with in the events it emits."""

from __future__ import annotations

SOURCE = "/alamal/notifications"
