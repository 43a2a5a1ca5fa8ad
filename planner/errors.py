"""The planner's error types: what a user can fix, apart from what is a bug.

Every failure that a user's input, settings or environment can cause is raised
as a :class:`LifecircleError`; the command line prints those as one or two
lines and exits with status 2. Anything else that escapes is a bug and shows its
traceback (exit status 1).

The types also derive from the matching built-in exception (``ValueError``,
``FileNotFoundError`` …) so that code written against the built-ins keeps
working.

===========================  ==================================================
type                         raised when
===========================  ==================================================
:class:`InputError`          an input file (or one row, one field of it) is bad
:class:`InputFileNotFound`   a named input file does not exist
:class:`NetworkError`        no usable walk network can be built from the streets
:class:`ConfigError`         a study-area setting or an option is wrong
:class:`OutputError`         the results cannot be written where asked
:class:`SolverError`         a site-selection solver found no answer
===========================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ConfigError",
    "InputError",
    "InputFileNotFound",
    "LifecircleError",
    "NetworkError",
    "OutputError",
    "OutputExistsError",
    "Problem",
    "SolverError",
]


class LifecircleError(Exception):
    """Base of every error a user can act on; ``str(error)`` says what is wrong and what to do."""


class InputError(LifecircleError, ValueError):
    """An input file cannot be used.

    Parameters
    ----------
    message : str
        What is wrong and what to do (it should name the file).
    path : str or pathlib.Path, optional
        The file.
    row : int, optional
        Row number as a spreadsheet shows it (the header is row 1).
    field : str, optional
        Column or field name.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, row: int | None = None, field: str | None = None
    ):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.row = row
        self.field = field


class InputFileNotFound(InputError, FileNotFoundError):
    """A file named by the user or the study area does not exist."""


class NetworkError(InputError):
    """No usable walk network: the street file is unreadable, empty or implausible."""


class ConfigError(LifecircleError, ValueError):
    """A study-area setting or a command-line option is wrong.

    Parameters
    ----------
    message : str
        What is wrong and what to do.
    path : str or pathlib.Path, optional
        The study-area file.
    key : str, optional
        Dotted key of the setting, e.g. ``facilities.max_snap_m``.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, key: str | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.key = key


class OutputError(LifecircleError, OSError):
    """Results cannot be written where asked (permissions, a file in the way, a full disk)."""


class OutputExistsError(OutputError, FileExistsError):
    """The output already exists and ``--force`` was not given."""


class SolverError(LifecircleError, RuntimeError):
    """A site-selection solver returned no solution (infeasible, or out of time before a first one)."""


@dataclass(frozen=True)
class Problem:
    """One problem with one row of an input file.

    Attributes
    ----------
    row : int
        Row number as a spreadsheet shows it (the header is row 1).
    field : str
        Column name.
    reason : str
        What is wrong, in words a planner can act on.
    """

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.reason}"
