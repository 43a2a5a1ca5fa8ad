"""Life-circle planner: can every resident walk to the community services they need?

Data flows one way: study area -> network -> access -> coverage -> siting -> scenario -> outputs
(see ``docs/architecture.md``).

>>> from planner import StudyArea, run, what_if
>>> plan = run(StudyArea.default())          # doctest: +SKIP

Importing the package is light: names are loaded on first use, and maps (folium), the report
(matplotlib) and the HTTP service (fastapi) only by the modules that draw or serve them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "DEFAULT_AREA": "planner.resources",
    "StudyArea": "planner.area",
    "Plan": "planner.plan",
    "RunOptions": "planner.pipeline",
    "run": "planner.pipeline",
    "Scenario": "planner.scenario",
    "what_if": "planner.scenario",
    "Rules": "planner.tiers",
    "SpeedProfile": "planner.tiers",
    "Tier": "planner.tiers",
    "ServiceRule": "planner.tiers",
    "WalkNetwork": "planner.network",
    "load_network": "planner.network",
    "LifecircleError": "planner.errors",
}

# Spelled out (not sorted(_EXPORTS)) so that linters and type checkers see the public names;
# tests/test_architecture.py checks that the two agree.
__all__ = [
    "DEFAULT_AREA",
    "LifecircleError",
    "Plan",
    "Rules",
    "RunOptions",
    "Scenario",
    "ServiceRule",
    "SpeedProfile",
    "StudyArea",
    "Tier",
    "WalkNetwork",
    "load_network",
    "run",
    "what_if",
]

if TYPE_CHECKING:
    from .area import StudyArea
    from .errors import LifecircleError
    from .network import WalkNetwork, load_network
    from .pipeline import RunOptions, run
    from .plan import Plan
    from .resources import DEFAULT_AREA
    from .scenario import Scenario, what_if
    from .tiers import Rules, ServiceRule, SpeedProfile, Tier


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    msg = f"module 'planner' has no attribute {name!r}"
    raise AttributeError(msg)
