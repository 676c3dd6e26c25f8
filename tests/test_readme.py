"""The README's examples are run, so the documentation cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from carefleet.maps import load_ward
from carefleet.maps.model import PlaceKind
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.events import TaskSubmitted, Tick
from carefleet.orchestrator.commands import NotifyStaff
from carefleet.robots.driver import send
from carefleet.robots.model import Capability, RobotProfile, RobotSpec
from carefleet.simulation.kpi import compute_kpis, definitions_markdown
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation
from carefleet.tasks.model import TaskState

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _block(after_heading: str, language: str) -> str:
    section = README.split(after_heading, 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_small_ward_example_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "willow.yaml"
    path.write_text(_block("### A complete small ward", "yaml"))
    ward = load_ward(path)
    assert len(ward.places_of_kind(PlaceKind.RESIDENT_ROOM)) == 2


def test_the_small_scenario_example_runs_and_meets_its_expectations(tmp_path: Path) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text(_block("### A complete small scenario", "yaml"))
    scenario = load_scenario(path)
    simulation = Simulation(scenario)
    try:
        result = simulation.run()
    finally:
        simulation.close()
    kpis = compute_kpis(result)
    assert all(e.judge(kpis[e.kpi])[0] for e in scenario.expectations)
    assert kpis["meals_delivered"] >= 4 and kpis["falls"] == 1


def test_the_kpi_table_is_the_one_the_code_defines() -> None:
    assert definitions_markdown() in README.split("### KPIs", 1)[1]


def test_the_minimal_driver_serves_a_task_through_the_core() -> None:
    namespace: dict = {}
    exec(_block("## Writing a robot driver", "python"), namespace)
    ward = load_ward(Path(__file__).resolve().parents[1] / "maps" / "wards" / "demo_ward.yaml")
    spec = RobotSpec(id="tp1", start="kitchen", profile=RobotProfile(
        model="teleport", trays=2, capabilities=frozenset(Capability)))
    core = Orchestrator(ward, [spec], start=0.0)
    reports: list = []
    driver = namespace["TeleportBot"]("tp1", reports.append, core.robots["tp1"].position)
    pending = [driver.status(), TaskSubmitted(request={"kind": "meal_delivery",
                                                       "rooms": ["room_101", "room_202"]},
                                              requested_by="staff:test")]
    now = 0.0
    while pending:
        now += 1.0
        for command in core.handle(pending.pop(0), now):
            if not isinstance(command, NotifyStaff):
                send(driver, command)
        pending += reports
        reports.clear()
    core.handle(Tick(), now + 1)
    (task,) = core.tasks.values()
    assert task.state is TaskState.COMPLETED
    assert task.delivered == ["room_101", "room_202"]
