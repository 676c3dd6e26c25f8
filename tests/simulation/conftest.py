"""Shared fixtures for the simulation suites: bundled scenario runs (each run once per
session), and a writer for small, often deliberately broken, scenario files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from carefleet.simulation.kpi import compute_kpis
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation

#: A small valid scenario (three hours, two meal robots, one breakfast, one fall).
#: Tests derive broken variants from it by replacing one exact piece of text.
MINIMAL_SCENARIO = textwrap.dedent("""\
    name: Tiny morning
    ward: demo_ward
    date: 2026-12-01
    start: "07:00"
    duration: 3
    seed: 3
    fleet:
      profiles:
        meal_bot:
          model: TrayRunner T4
          speed: 0.8
          trays: 4
          capabilities: [meal_delivery, camera]
      robots:
        - {id: tray_1, profile: meal_bot, start: charger_f1}
        - {id: tray_2, profile: meal_bot, start: kitchen}
    schedules:
      meals:
        - {name: breakfast, at: "07:30", rooms: [room_101, room_102, room_103, room_104, room_105, room_106]}
    events:
      - {at: "08:00", kind: fall, room: room_203}
    expect:
      - {kpi: meals_delivered, min: 4}
      - {kpi: tasks_lost, max: 0}
    """)


def run_scenario(path: str | Path, *, seed: int | None = None,
                 db_path: str | Path | None = None) -> SimpleNamespace:
    """Load and run a scenario the way ``carefleet sim`` does; judge its expectations."""
    scenario = load_scenario(path)
    if seed is not None:
        from dataclasses import replace
        scenario = replace(scenario, seed=seed)
    simulation = Simulation(scenario, db_path=db_path)
    try:
        result = simulation.run()
    finally:
        simulation.close()
    kpis = compute_kpis(result, on_time_window=scenario.on_time_window)
    verdicts = [(e.name, *e.judge(kpis.get(e.kpi))) for e in scenario.expectations]
    return SimpleNamespace(scenario=scenario, result=result, kpis=kpis, verdicts=verdicts)


@pytest.fixture(scope="session")
def bundled_run() -> Callable[[Path], SimpleNamespace]:
    """``bundled_run(path)``: the run of a bundled scenario, computed once per session."""
    cache: dict[Path, SimpleNamespace] = {}

    def get(path: Path) -> SimpleNamespace:
        path = Path(path)
        if path not in cache:
            cache[path] = run_scenario(path)
        return cache[path]
    return get


@pytest.fixture
def runner() -> Callable[..., SimpleNamespace]:
    return run_scenario


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """``write_scenario(*replacements, append="", name="s.yaml")``: the minimal scenario
    with each ``(old, new)`` replaced (``old`` must occur exactly once), written to tmp."""

    def write(*replacements: tuple[str, str], append: str = "", name: str = "scenario.yaml",
              text: str | None = None) -> Path:
        body = MINIMAL_SCENARIO if text is None else text
        for old, new in replacements:
            assert body.count(old) == 1, f"{old!r} must occur once in the minimal scenario"
            body = body.replace(old, new)
        path = tmp_path / name
        path.write_text(body + append, encoding="utf-8")
        return path
    return write


@pytest.fixture
def minimal_text() -> str:
    return MINIMAL_SCENARIO
