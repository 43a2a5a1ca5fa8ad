"""The on-disk cache of derived data (walk networks, building footprints), keyed by content.

Files live in ``$LIFECIRCLE_CACHE_DIR`` or ``~/.cache/lifecircle``. A cache entry is named
after the SHA-256 of its source file's bytes plus the builder's version and options, so an
edited source or a changed rule never reads a stale entry.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from .atomic import atomic_file

T = TypeVar("T")
log = logging.getLogger(__name__)

__all__ = ["cache_dir", "content_key", "file_digest", "read_cached", "write_cached"]


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


def content_key(*parts: object) -> str:
    """SHA-256 (24 hex characters) of arrays, strings and numbers, in order: the key of an entry derived from data
    already in memory (an array counts by its dtype, shape and bytes; an array of Python objects by their text)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(repr(a.tolist()).encode() if a.dtype == object else a.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:24]


@functools.cache
def source_key(*modules: str) -> str:
    """The source of the named modules, as one key part: an entry made by code that has since changed is not
    read again."""
    return content_key(*(Path(str(importlib.import_module(m).__file__)).read_bytes() for m in modules))


def read_cached(path: Path, load: Callable[[Path], T]) -> T | None:
    """Load a cache entry, or None when there is none; an unreadable one is logged once, deleted and rebuilt.

    Any failure to load (truncated, emptied or bit-flipped files raise many different errors) means the entry is
    not trusted: it is removed so the caller rebuilds and rewrites it.
    """
    if not path.is_file():
        return None
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 - whatever a damaged file raises, the answer is to rebuild it
        log.warning("cache file %s is unreadable (%s: %s); deleting it and rebuilding", path, type(exc).__name__, exc)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def write_cached(path: Path, write: Callable[[Path], object]) -> None:
    """Write a cache entry atomically (temporary file, fsync, rename); a failure only costs the cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            write(tmp)
    except OSError as exc:
        log.warning("could not write cache file %s (%s)", path, exc)
