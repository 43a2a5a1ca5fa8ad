"""Where the data shipped with the planner lives: the repository's ``data/`` or its copy in the wheel.

The repository keeps its data in the top-level folder ``data/``. A wheel carries ``data/LICENSES.md`` and
``data/shanghai-central/`` as ``planner/_data/`` (``[tool.setuptools.package-dir]`` in ``pyproject.toml``); a
checkout or an editable install (``pip install -e .``) reads ``data/`` in place.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DATA_DIR", "DEFAULT_AREA", "data_dir"]

_AREA = Path("shanghai-central") / "area.toml"


def data_dir() -> Path:
    """Return the folder holding the shipped data.

    Returns
    -------
    pathlib.Path
        ``planner/_data`` of an installed wheel when it holds the default area, else ``<repo>/data`` of the
        checkout this module runs from (which may not exist: reading the area then says what is missing).
    """
    packaged = Path(str(resources.files(__package__) / "_data"))
    if (packaged / _AREA).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "data"


#: The folder holding the shipped data (``<repo>/data`` or the wheel's ``planner/_data``).
DATA_DIR: Path = data_dir()

#: The embedded default study area (central Shanghai): its ``area.toml``.
DEFAULT_AREA: Path = DATA_DIR / _AREA
