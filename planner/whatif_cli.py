"""``lifecircle what-if``: a scenario file (open a gate, add a footbridge, close a street, open or close facilities)
against a study area, answered in the planner's terms: residents and elderly gained or lost per tier, service and
街道, the residents whose minutes changed, and the variant's three lists."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .area import StudyArea
from .outputs import SCENARIO_FILES, prepare_output_dir, write_scenario_outputs
from .pipeline import RunOptions, run
from .resources import DEFAULT_AREA
from .scenario import what_if
from .scenario_file import read_scenario_file

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``what-if`` command to the ``lifecircle`` parser."""
    p = sub.add_parser(
        "what-if",
        help="a scenario: open or close facilities, add walking links (gates, footbridges), close streets",
        description="Runs the study area, applies the scenario file (see planner/scenario_file.py for its keys) "
        "and writes scenario.json (gains and losses per tier, service and 街道; each street edit's effect), "
        "changed_minutes.geojson and the variant's lists.xlsx.",
    )
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    p.add_argument("--area", type=Path, default=DEFAULT_AREA, help="study-area TOML file (default: the embedded one)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: out/<area>-<scenario>)")
    p.add_argument("--force", action="store_true", help="replace a what-if's results already in the folder")
    p.set_defaults(handler=run_what_if)


def run_what_if(args: argparse.Namespace) -> int:
    """Run ``lifecircle what-if``."""
    scenario_file = read_scenario_file(args.scenario)
    area = StudyArea.from_toml(args.area)
    out = prepare_output_dir(
        args.out or Path("out") / f"{area.name}-{args.scenario.stem}", force=args.force, files=SCENARIO_FILES
    )
    plan = run(area, RunOptions(isochrones="none"))
    scenario = what_if(plan, **scenario_file.kwargs)
    data = write_scenario_outputs(scenario, out, title=scenario_file.title)
    everyone = plan.rules.everyone.key
    for key, per in data["tiers"].items():
        c = per[everyone]
        log.info("%-8s +%d / -%d residents (+%d / -%d elderly)", key, *(c[k] for k in _ORDER))
    for key, per in data["services"].items():
        for prof, c in per.items():
            log.info("%s (%s): +%d / -%d residents (+%d / -%d elderly)", key, prof, *(c[k] for k in _ORDER))
    for note in scenario.notes_en:
        log.info("%s", note)
    log.info("wrote %s", out)
    return 0


_ORDER = ("gain_people", "loss_people", "gain_elderly", "loss_elderly")
