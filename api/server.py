"""Run the service with uvicorn (``lifecircle serve``)."""

from __future__ import annotations

import logging
from pathlib import Path

from .app import create_app
from .settings import Settings


def serve(area: Path, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info") -> None:
    """Start uvicorn on ``host:port`` serving the study area ``area``."""
    import uvicorn

    logging.getLogger("api").setLevel(log_level.upper())
    uvicorn.run(create_app(Settings(area=Path(area))), host=host, port=port, log_level=log_level,
                access_log=False)
