"""Life-circle planner: can every resident walk to the community services they need?

The core library. Data flows one way: network -> access -> coverage -> sites -> outputs.

>>> from planner import Plan, StudyArea
"""

from .area import DEFAULT_AREA, StudyArea
from .network import WalkNetwork, load_network
from .plan import Plan
from .tiers import DEFAULT_PROFILES, DEFAULT_TIERS, Rules, SpeedProfile, Tier

__all__ = ["DEFAULT_AREA", "DEFAULT_PROFILES", "DEFAULT_TIERS", "Plan", "Rules", "SpeedProfile", "StudyArea",
           "Tier", "WalkNetwork", "load_network"]
__version__ = "0.1.0"
