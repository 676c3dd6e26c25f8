"""Time to allocate one new task in a big fleet: 50 robots, 500 tasks already queued.

Measures ``Orchestrator.handle(TaskSubmitted(...))`` end to end (validation, choosing
the robot, journaling), in-process, with the real core and the demo ward.
Prints figures only. Run: .venv/bin/python bench/allocation.py [SAMPLES]
"""

from __future__ import annotations

import statistics
import sys
import time

from carefleet.maps import DEMO_WARD, load_ward
from carefleet.maps.model import PlaceKind
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.events import RobotStatus, TaskSubmitted
from carefleet.robots.model import Battery, Capability, RobotProfile, RobotSpec

ROBOTS, QUEUED = 50, 500
START = 1_796_054_400.0   # 2026-12-01 00:00 in the demo ward's time zone


def build() -> tuple[Orchestrator, list[str]]:
    ward = load_ward(DEMO_WARD)
    rooms = [p.id for p in ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    places = sorted(ward.places)
    profile = RobotProfile(model="bench", speed=0.8, trays=4,
                           capabilities=frozenset(Capability), battery=Battery(capacity_wh=5000))
    specs = [RobotSpec(id=f"r{i:02d}", profile=profile, start=places[i % len(places)])
             for i in range(ROBOTS)]
    core = Orchestrator(ward, specs, start=START)
    for spec in specs:
        core.handle(RobotStatus(robot_id=spec.id, position=core.robots[spec.id].position,
                                battery=1.0), START)
    for i in range(QUEUED):
        core.handle(TaskSubmitted(request=_request(rooms, i), requested_by="bench"), START + 1)
    core.take_journal()
    return core, rooms


def _request(rooms: list[str], i: int) -> dict:
    if i % 2:
        return {"kind": "go_to", "place": rooms[i % len(rooms)]}
    return {"kind": "meal_delivery", "rooms": [rooms[(i + k) % len(rooms)] for k in range(4)]}


def main(samples: int = 200) -> None:
    core, rooms = build()
    queued = sum(len(r.queue) + (r.task is not None) for r in core.robots.values())
    times = []
    for i in range(samples):
        event = TaskSubmitted(request=_request(rooms, i + 1), requested_by="bench")
        started = time.perf_counter()
        core.handle(event, START + 2)
        times.append(time.perf_counter() - started)
        core.take_journal()
    times.sort()
    print(f"allocation of one new task: {ROBOTS} robots, {queued} tasks already assigned/queued, "
          f"{samples} samples")
    print(f"  median {statistics.median(times) * 1e3:.2f} ms, p95 {times[int(0.95 * len(times))] * 1e3:.2f} ms, "
          f"max {times[-1] * 1e3:.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
