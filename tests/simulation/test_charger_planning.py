"""Charger planning under load: 2,000 patrols submitted at once to ten robots on the demo
ward's two chargers. Each robot can drive about two hours on a charge and needs 1.4 h
to recharge, so chargers, not robots, limit the day: robots must go to charge early
enough to wait their turn, take the lowest first, and give a charger up to a robot
about to run low. The promise checked after every simulated step: no robot's battery
is ever below its reserve (with only the lowest-first and give-up rules, two of the
ten ran flat)."""

from __future__ import annotations

from carefleet.maps import DEMO_WARD, load_ward
from carefleet.maps.model import PlaceKind
from carefleet.robots.model import Battery, Capability, RobotProfile, RobotSpec
from carefleet.simulation.scenario import Happening, Scenario
from carefleet.simulation.simulator import Simulation

START = 1796054400.0          # 2026-12-01 00:00 in the demo ward's time zone
HOURS = 14


def burst() -> Scenario:
    ward = load_ward(DEMO_WARD)
    places = sorted(p.id for p in ward.places.values()
                    if p.kind in (PlaceKind.RESIDENT_ROOM, PlaceKind.LOUNGE, PlaceKind.STORE,
                                  PlaceKind.NURSE_STATION))
    profile = RobotProfile(model="runner", speed=0.8, battery=Battery(),
                           capabilities=frozenset({Capability.PATROL}))
    robots = tuple(RobotSpec(id=f"r{i}", profile=profile, start="kitchen") for i in range(10))
    patrols = tuple(Happening(at=START + 60, kind="submit", args={"by": "staff:mei", "task": {
        "kind": "patrol", "rounds": 1,
        "checkpoints": [places[i * 7 % len(places)], places[(i * 7 + 13) % len(places)]]}})
        for i in range(2000))
    return Scenario(name="2,000-task burst", source="test", ward=ward, ward_file=ward.source,
                    seed=5, start=START, end=START + HOURS * 3600.0, robots=robots,
                    schedules=(), happenings=patrols, expectations=())


def test_no_robot_below_its_reserve_in_a_2000_task_burst_with_two_chargers() -> None:
    simulation = Simulation(burst())
    lowest: dict[str, float] = {}

    def check() -> None:
        for robot in simulation.robots.values():
            level = robot.energy / robot.profile.battery.capacity_wh
            lowest[robot.robot_id] = min(lowest.get(robot.robot_id, 1.0), level)
    simulation.after_step = check
    try:
        result = simulation.run()
    finally:
        simulation.close()
    reserve = Battery().reserve
    assert min(lowest.values()) >= reserve, sorted(lowest.items(), key=lambda kv: kv[1])
    done = sum(t["kind"] == "patrol" and t["state"] == "completed" for t in result.tasks)
    assert done > 800                      # the fleet worked, it did not just wait
    assert sum(t["kind"] == "charge" for t in result.tasks) >= 10   # every robot charged
