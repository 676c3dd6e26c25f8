"""Randomised fault-mix days: every fault kind and restarts at random moments, with the
core's and the host's promises checked after every step (``simulation/faultmix.py``).

A quick subset runs here; ``bench/fault_mix.py`` runs the long sweep. A failure names
its seed: ``fault_day(seed)`` rebuilds that exact day.
"""

from __future__ import annotations

import pytest

from carefleet.simulation.faultmix import (CLOSABLE, BrokenPromise, Promises, base_day, fault_day,
                                           run_fault_day)
from carefleet.simulation.simulator import Simulation

SEEDS = range(24)


@pytest.fixture(scope="module")
def base():
    return base_day()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_generated_fault_day_keeps_every_promise(seed: int, base) -> None:
    promises = run_fault_day(seed, base=base)
    assert promises.steps > 100                      # the day really played


def test_generated_days_cover_every_fault_kind_and_restarts(base) -> None:
    kinds: set[str] = set()
    for seed in SEEDS:
        day = fault_day(seed, base=base)
        kinds |= {h.kind for h in day.happenings}
        assert 1 <= sum(h.kind == "restart" for h in day.happenings) <= 3
        assert all(day.start < h.at < day.end for h in day.happenings)
    assert {"robot_fault", "robot_stuck", "battery", "estop", "close", "submit", "cancel",
            "fall", "call_button", "restart"} <= kinds
    assert fault_day(5, base=base) == fault_day(5, base=base)      # same seed, same day
    assert {h.args["what"] for s in SEEDS for h in fault_day(s, base=base).happenings
            if h.kind == "close"} <= set(CLOSABLE)


def test_the_checker_catches_a_broken_promise(base) -> None:
    """The promises are not vacuous: a core that lets two robots hold one charger fails."""
    simulation = Simulation(fault_day(1, hours=2, base=base))
    promises = Promises(simulation)
    core = simulation.orchestrator
    first, second = list(core.robots.values())[:2]
    first.charger = second.charger = "charger_f1"
    with pytest.raises(BrokenPromise, match="two robots hold one charger"):
        promises.check()
    simulation.close()
