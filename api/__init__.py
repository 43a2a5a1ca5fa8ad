"""HTTP face of the planner: a thin FastAPI service over :mod:`planner` (no analysis here)."""

from .app import create_app

__all__ = ["create_app"]
