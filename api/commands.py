"""``lifecircle serve``: the sub-command this package adds to the planner's command line.

Registered through the ``lifecircle.commands`` entry point (``pyproject.toml``), so the planner's
command line finds it without importing the service; FastAPI is loaded only when ``serve`` runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.resources import DEFAULT_AREA

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``lifecircle`` command's sub-commands."""
    srv = commands.add_parser("serve", help="serve coverage checks over HTTP (FastAPI; docs at /docs)")
    srv.add_argument("--area", type=Path, default=DEFAULT_AREA, help="study-area TOML file")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, e.g. one per core (default 1); with 2 or more the area is built once and "
        "shared by all of them (built before the port answers)",
    )
    srv.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from planner.area import StudyArea

    from .prefork import serve

    StudyArea.from_toml(args.area)  # fail fast, with a clear message, on a bad area file
    return serve(
        args.area,
        args.host,
        args.port,
        workers=args.workers,
        log_level="debug" if args.verbose else "warning" if args.quiet else "info",
    )
