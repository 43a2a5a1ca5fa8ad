"""The on-disk cache of derived data (walk networks, building footprints), keyed by content.

Files live in ``$LIFECIRCLE_CACHE_DIR`` or ``~/.cache/lifecircle``. A cache entry is named
after the SHA-256 of its source file's bytes plus the builder's version and options, so an
edited source or a changed rule never reads a stale entry.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["cache_dir", "file_digest"]


def cache_dir() -> Path:
    """Folder for cached data: ``$LIFECIRCLE_CACHE_DIR`` or ``~/.cache/lifecircle``."""
    env = os.environ.get("LIFECIRCLE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "lifecircle"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex (the key of cache entries)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
