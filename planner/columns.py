"""Names of the output columns: the one place that knows how a result is spelled.

Every walking profile gets its own columns, named after it; no profile is special:

=====================================  ===========================================================
column                                 meaning
=====================================  ===========================================================
``minutes_<tier>_<profile>``           walking minutes to the nearest facility of the tier (NaN: none
                                       within the search horizon, or the point is off the network)
``covered_<tier>_<profile>``           minutes within the tier's walking target
``missing_tiers_<profile>``            tiers out of reach, as a list of keys (text: comma-joined)
``underserved_<profile>``              some tier out of reach
``minutes_service_<service>_<profile>`` walking minutes to the nearest facility offering the service
``missing_services_<profile>``         service categories out of reach
``nearest_<tier>``                     id of the nearest facility of the tier (the same for every profile)
``assessed_service_<service>``         the resident lies where the service's list is complete (only for services
                                       with ``assessed_in``); elsewhere its minutes are NaN and it is not missing
=====================================  ===========================================================

Residents carry ``population`` and ``elderly`` counts; a profile's figures are weighted by its
group's count (:attr:`planner.tiers.SpeedProfile.group`).
"""

from __future__ import annotations

__all__ = [
    "COVERAGE_PREFIXES",
    "covered",
    "minutes",
    "missing_services",
    "missing_tiers",
    "nearest",
    "service_assessed",
    "service_minutes",
    "underserved",
]

#: Prefixes of every column that coverage adds (strip them to get back the bare residents).
COVERAGE_PREFIXES: tuple[str, ...] = ("minutes_", "covered_", "missing_", "underserved_", "nearest_")


def minutes(tier: str, profile: str) -> str:
    """``minutes_<tier>_<profile>``: walking minutes to the nearest facility of a tier."""
    return f"minutes_{tier}_{profile}"


def covered(tier: str, profile: str) -> str:
    """``covered_<tier>_<profile>``: within the tier's walking target."""
    return f"covered_{tier}_{profile}"


def missing_tiers(profile: str) -> str:
    """``missing_tiers_<profile>``: tiers out of reach."""
    return f"missing_tiers_{profile}"


def underserved(profile: str) -> str:
    """``underserved_<profile>``: some tier out of reach."""
    return f"underserved_{profile}"


def service_minutes(service: str, profile: str) -> str:
    """``minutes_service_<service>_<profile>``: walking minutes to the nearest facility offering a service."""
    return f"minutes_service_{service}_{profile}"


def missing_services(profile: str) -> str:
    """``missing_services_<profile>``: service categories out of reach."""
    return f"missing_services_{profile}"


def service_assessed(service: str) -> str:
    """``assessed_service_<service>``: the resident lies where the service's list is complete."""
    return f"assessed_service_{service}"


def nearest(tier: str) -> str:
    """``nearest_<tier>``: id of the nearest facility of a tier."""
    return f"nearest_{tier}"
