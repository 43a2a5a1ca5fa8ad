"""Writing without losing anything: files and output folders appear whole or not at all.

- :func:`atomic_file` writes a file through a temporary sibling that is fsynced and renamed into place, so a
  reader (or the next run, after a kill) sees the old file or the new one, never half of one.
- :class:`FolderSwap` builds a run's outputs in a hidden sibling folder (``.<name>.new``) and swaps it into place
  only when every file is complete. The user's own files in the output folder are carried over. A kill at any
  instant leaves the previous complete output or the new complete one; :func:`recover` (run at the start of
  the next run) finishes or undoes a swap that was interrupted and removes an unfinished new folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["FolderSwap", "atomic_file", "recover"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # same suffix: writers that add one
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _siblings(out: Path) -> tuple[Path, Path]:
    return out.with_name(f".{out.name}.new"), out.with_name(f".{out.name}.old")


def recover(out: str | Path, managed: Iterable[str]) -> None:
    """Finish or undo an interrupted swap of ``out``, and drop an unfinished new folder.

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder.
    managed : iterable of str
        Names of the files a run writes (the rest of the folder belongs to the user).
    """
    out = Path(out)
    new, old = _siblings(out)
    if old.exists() and not out.exists():
        if new.exists() and (new / ".complete").exists():
            log.warning("finishing an interrupted replacement of %s", out)
            os.replace(new, out)
        else:
            log.warning("undoing an interrupted replacement of %s", out)
            os.replace(old, out)
    if old.exists() and out.exists():
        _carry_over(old, out, set(managed))
        shutil.rmtree(old)
    if new.exists():
        log.warning("removing the unfinished results of an interrupted run: %s", new)
        shutil.rmtree(new)


def _carry_over(old: Path, out: Path, managed: set[str]) -> None:
    """Move the user's own entries (not written by a run) from ``old`` into ``out``."""
    for entry in old.iterdir():
        if entry.name not in managed and entry.name != ".complete" and not (out / entry.name).exists():
            os.replace(entry, out / entry.name)


class FolderSwap:
    """Build outputs in ``.<name>.new`` and swap them into ``out`` when complete.

    Examples
    --------
    >>> swap = FolderSwap(out, OUTPUT_FILES)            # doctest: +SKIP
    >>> write_everything(swap.folder)                   # doctest: +SKIP
    >>> swap.commit()                                   # doctest: +SKIP
    """

    def __init__(self, out: str | Path, managed: Iterable[str]):
        self.out = Path(out)
        self.managed = set(managed)
        recover(self.out, self.managed)
        self.folder, self._old = _siblings(self.out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir()

    def commit(self) -> Path:
        """Swap the finished folder into place; the user's other files come along. Returns ``out``."""
        (self.folder / ".complete").touch()
        _fsync_dir(self.folder)
        if self.out.exists():
            os.replace(self.out, self._old)
        os.replace(self.folder, self.out)
        _fsync_dir(self.out.parent)
        if self._old.exists():
            _carry_over(self._old, self.out, self.managed)
            shutil.rmtree(self._old)
        with contextlib.suppress(FileNotFoundError):
            (self.out / ".complete").unlink()
        return self.out

    def abort(self) -> None:
        """Drop the unfinished folder; ``out`` stays as it was."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
