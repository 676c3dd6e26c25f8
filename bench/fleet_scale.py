"""Does the simulator's cost per robot-day stay flat as the fleet and the ward grow?

Generated wards (``carefleet.maps.generate.corridor_ward``: 32, 100 and 300 rooms, on
2, 4 and 6 floors, a charger for every five robots) with 3, 30 and 100 robots play 1
and 7 days of three meal services for every room and an evening patrol of every
floor. Prints simulated seconds per wall second and wall milliseconds per robot-day
(the figure that should stay flat), and each fleet's cost per robot-day against the
3-robot fleet's on the same ward and days (target: 100 robots within 3x).

Prints figures only. Run: .venv/bin/python bench/fleet_scale.py [--quick]
(``--quick``: 1 day only, and 300 rooms only with 100 robots).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, time as clock
from zoneinfo import ZoneInfo

from carefleet.maps.generate import corridor_ward
from carefleet.maps.model import PlaceKind
from carefleet.orchestrator.schedules import MealService, PatrolSchedule
from carefleet.robots.model import Battery, Capability, RobotProfile, RobotSpec
from carefleet.simulation.scenario import Scenario
from carefleet.simulation.simulator import Simulation

MEAL_BOT = RobotProfile(model="TrayRunner T4", speed=0.8, trays=4,
                        capabilities=frozenset({Capability.MEAL_DELIVERY, Capability.CAMERA}),
                        battery=Battery(capacity_wh=480.0, drain_per_m_wh=0.06,
                                        drain_idle_w=12.0, charge_w=240.0))
PATROL_BOT = RobotProfile(model="NightOwl P1", speed=0.7,
                          capabilities=frozenset({Capability.PATROL, Capability.CAMERA}),
                          battery=Battery(capacity_wh=360.0, drain_per_m_wh=0.04,
                                          drain_idle_w=10.0, charge_w=180.0))
FLOORS = {32: 2, 100: 4, 300: 6}


def day_scenario(rooms: int, robots: int, days: int) -> Scenario:
    ward = corridor_ward(rooms, floors=FLOORS[rooms], chargers=max(2, robots // 5))
    places = ward.places
    starts = sorted(p for p in places if places[p].kind is PlaceKind.CHARGER) + ["kitchen"]
    patrollers = max(1, robots // 3)
    fleet = tuple(RobotSpec(id=f"r{i:03d}", start=starts[i % len(starts)],
                            profile=PATROL_BOT if i < patrollers else MEAL_BOT)
                  for i in range(robots))
    checkpoints = tuple(p for p in sorted(places) if places[p].kind is PlaceKind.LIFT)
    schedules = (MealService(name="breakfast", at=clock(7, 30)),
                 MealService(name="lunch", at=clock(12)), MealService(name="dinner", at=clock(17, 30)),
                 PatrolSchedule(name="evening", start=clock(20), end=clock(22), rounds=2,
                                checkpoints=checkpoints))
    start = datetime(2026, 12, 1, tzinfo=ZoneInfo(ward.timezone)).timestamp()
    return Scenario(name=f"{rooms} rooms, {robots} robots", source="bench/fleet_scale.py",
                    ward=ward, ward_file=ward.source, seed=1, start=start,
                    end=start + days * 86400.0, robots=fleet, schedules=schedules,
                    happenings=(), expectations=())


def run(rooms: int, robots: int, days: int) -> float:
    simulation = Simulation(day_scenario(rooms, robots, days))
    started = time.perf_counter()
    try:
        simulation.run()
    finally:
        simulation.close()
    return time.perf_counter() - started


def main(quick: bool = False) -> None:
    print("simulator cost per robot-day: generated wards, 3 meal services a day for every "
          "room, an evening patrol")
    print(f"{'rooms':>5} {'robots':>6} {'days':>4} {'wall s':>8} {'sim s / wall s':>15} "
          f"{'ms per robot-day':>17} {'vs 3 robots':>12}")
    for days in ((1,) if quick else (1, 7)):
        for rooms in (32, 100, 300):
            base = None
            for robots in (3, 30, 100):
                if quick and rooms == 300 and robots != 100:
                    continue
                wall = run(rooms, robots, days)
                per_robot_day = wall / (robots * days) * 1000.0
                base = base or per_robot_day
                print(f"{rooms:5} {robots:6} {days:4} {wall:8.2f} {days * 86400 / wall:15,.0f} "
                      f"{per_robot_day:17.2f} {per_robot_day / base:11.2f}x", flush=True)


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
