"""Run the service with uvicorn (``lifecircle serve``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .app import create_app
from .settings import Settings


def app_from_env():
    """App factory for worker processes: the study area comes from ``LIFECIRCLE_AREA``."""
    return create_app(Settings(area=Path(os.environ["LIFECIRCLE_AREA"])))


def serve(area: Path, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, log_level: str = "info") -> None:
    """Start uvicorn on ``host:port`` serving the study area ``area`` (``workers`` processes)."""
    import uvicorn

    logging.getLogger("api").setLevel(log_level.upper())
    if workers > 1:
        os.environ["LIFECIRCLE_AREA"] = str(Path(area).resolve())
        uvicorn.run(
            "api.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    uvicorn.run(create_app(Settings(area=Path(area))), host=host, port=port, log_level=log_level, access_log=False)
