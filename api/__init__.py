"""HTTP face of the planner: a thin FastAPI service over :mod:`planner` (no analysis here).

``from api import create_app`` builds the app; importing the package itself loads nothing heavy, so the
``lifecircle`` command can list ``serve`` (:mod:`api.commands`) without loading FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    msg = f"module 'api' has no attribute {name!r}"
    raise AttributeError(msg)
