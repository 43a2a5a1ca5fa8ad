"""Service settings: limits and switches, from arguments or ``LIFECIRCLE_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from planner.resources import DEFAULT_AREA


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


@dataclass(frozen=True)
class Settings:
    """How the service runs.

    Attributes
    ----------
    area : pathlib.Path
        Study-area TOML file, fixed at start-up (clients never name files).
    max_body_bytes : int
        Largest request body accepted (413 above it).
    request_timeout_s : float
        Longest a request may compute (503 after it).
    max_points : int
        Points per ``/coverage`` request.
    cors_origins : list of str
        Origins allowed by CORS; empty = CORS off.
    """

    area: Path = DEFAULT_AREA
    max_body_bytes: int = int(os.environ.get("LIFECIRCLE_MAX_BODY_BYTES", "2000000"))
    request_timeout_s: float = float(os.environ.get("LIFECIRCLE_REQUEST_TIMEOUT_S", "30"))
    max_points: int = 10_000
    max_origins: int = 100
    cors_origins: list[str] = field(default_factory=lambda: _env_list("LIFECIRCLE_CORS_ORIGINS"))
