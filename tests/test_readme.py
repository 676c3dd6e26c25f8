"""The README's examples are run, so the documentation cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from carefleet.maps import load_ward
from carefleet.maps.model import PlaceKind
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.host import Host, VirtualClock
from carefleet.orchestrator.events import TaskSubmitted
from carefleet.robots.model import Capability, RobotProfile, RobotSpec
from carefleet.simulation.kpi import compute_kpis, definitions_markdown
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation

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


def test_the_minimal_driver_serves_a_task_through_the_host(tmp_path: Path) -> None:
    """The README's driver, run exactly as every runtime runs a driver: by the host."""
    namespace: dict = {}
    exec(_block("## Writing a robot driver", "python"), namespace)
    ward = load_ward(Path(__file__).resolve().parents[1] / "maps" / "wards" / "demo_ward.yaml")
    spec = RobotSpec(id="tp1", start="kitchen", profile=RobotProfile(
        model="teleport", trays=2, capabilities=frozenset(Capability)))
    clock = VirtualClock(0.0)
    host = Host(lambda incarnation: Orchestrator(ward, [spec], start=clock.now(),
                                                 incarnation=incarnation),
                str(tmp_path / "store.db"), clock=clock, driver_timeout=None,
                core_faults="raise")
    driver = namespace["TeleportBot"]("tp1", host.post, "f1_service")
    host.drivers["tp1"] = driver
    host.post(driver.status())
    done = host.post(TaskSubmitted(request={"kind": "meal_delivery",
                                            "rooms": ["room_101", "room_202"]},
                                   requested_by="staff:test", task_id="lunch-1"))
    while host.step():
        clock.t += 1.0
    assert done.result() is not None
    record = host.store.task("lunch-1")
    host.close()
    assert record["state"] == "completed"
    assert record["progress"]["delivered"] == ["room_101", "room_202"]
