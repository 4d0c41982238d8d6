"""FastAPI dependencies shared by cases' routers."""

from alamal_runtime.http import StoreDep

__all__ = ["StoreDep"]
