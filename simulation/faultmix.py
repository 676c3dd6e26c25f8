"""Random fault-mix days and the promises checked after every step of them.

``fault_day(seed)`` takes the bundled demo day (three robots, three meal services, two
patrols) and scripts a random mix of every fault kind the simulator knows: robot
faults with and without repair, stuck robots, dead and low batteries, e-stops with and
without release, corridor and lift closures, staff submits and cancels, falls, call
buttons, and one to three orchestrator restarts at random moments. ``Promises`` is an
observer of a running ``Simulation`` that checks, after every step, what the core and
the host promise whatever happens; ``judge_end`` checks the end of the day. A broken
promise raises ``BrokenPromise`` naming the seed, the time and what broke, so a failing
day can be replayed with ``carefleet sim`` from ``fault_day(seed)``'s events.

Used by the test suite (a quick subset) and by ``bench/fault_mix.py`` (a long sweep).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from pathlib import Path

from carefleet.maps.model import PlaceKind
from carefleet.robots.lifecycle import RobotState
from carefleet.simulation.scenario import Happening, Scenario, load_scenario
from carefleet.simulation.simulator import Simulation

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
#: Passages a fault day may close: corridors, halls, the lift.
CLOSABLE = ("east_corridor_f1", "east_corridor_f2", "hall_f1", "hall_f2", "lift_a",
            "wing_corridor_f1", "wing_corridor_f2")
#: Timers one simulated day may take at most before it counts as hung.
STEP_BUDGET = 2_000_000
FINAL_STATES = {"completed", "failed", "cancelled"}


class BrokenPromise(AssertionError):
    """A promise of the core or the host did not hold on a generated day."""


def base_day() -> Scenario:
    """The bundled demo day without its scripted events and cameras (rendered camera
    footage is slow and is tested elsewhere; falls come from wearables here)."""
    day = load_scenario(SCENARIOS_DIR / "demo_day.yaml")
    return replace(day, happenings=(), expectations=(), cameras={})


def fault_day(seed: int, *, hours: float = 24.0, base: Scenario | None = None) -> Scenario:
    """A random fault mix on the demo day, the same for the same seed."""
    day = base or base_day()
    rng = random.Random(seed)
    start, end = day.start, day.start + hours * 3600.0
    rooms = [p.id for p in day.ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    robots = [r.id for r in day.robots]
    happenings: list[Happening] = []
    submitted: list[str] = []

    def at() -> float:
        return rng.uniform(start + 60.0, end - 60.0)

    def add(when: float, kind: str, **args: Any) -> None:
        happenings.append(Happening(at=when, kind=kind, args=args))

    for _ in range(rng.randint(4, 14)):
        kind = rng.choice(("fault", "fault", "stuck", "battery", "estop", "close", "submit",
                           "submit", "submit", "cancel", "fall", "call"))
        robot = rng.choice(robots)
        when = at()
        if kind == "fault":
            repair = {"repair_after": rng.uniform(60, 4 * 3600)} if rng.random() < 0.7 else {}
            add(when, "robot_fault", robot=robot, error=rng.choice(
                ("drive failure", "lidar blocked", "battery empty")), **repair)
        elif kind == "stuck":
            add(when, "robot_stuck", robot=robot, duration=rng.uniform(30, 1800))
        elif kind == "battery":
            add(when, "battery", robot=robot, level=rng.choice((0.0, 0.03, 0.12, 0.2, 0.3)))
        elif kind == "estop":
            release = {"release_after": rng.uniform(30, 3600)} if rng.random() < 0.7 else {}
            add(when, "estop", robot=robot, **release)
        elif kind == "close":
            add(when, "close", what=rng.choice(CLOSABLE), duration=rng.uniform(300, 6 * 3600))
        elif kind == "submit":
            task_id = f"staff-{seed}-{len(submitted)}"
            submitted.append(task_id)
            add(when, "submit", task=_request(rng, rooms, day), by="staff:test", id=task_id)
        elif kind == "cancel" and submitted:
            add(when, "cancel", task=rng.choice(submitted), by="staff:test")
        elif kind == "fall":
            add(when, "fall", room=rng.choice(rooms))
        elif kind == "call":
            add(when, "call_button", room=rng.choice(rooms))
    for _ in range(rng.randint(1, 3)):
        add(at(), "restart")
    happenings.sort(key=lambda h: h.at)
    return replace(day, name=f"fault mix {seed}", seed=seed, end=end,
                   happenings=tuple(happenings))


def _request(rng: random.Random, rooms: list[str], day: Scenario) -> dict[str, Any]:
    choice = rng.random()
    if choice < 0.4:
        return {"kind": "go_to", "place": rng.choice(rooms)}
    if choice < 0.7:
        return {"kind": "meal_delivery", "rooms": rng.sample(rooms, rng.randint(1, 4))}
    return {"kind": "patrol", "checkpoints": rng.sample(rooms, 3), "rounds": rng.randint(1, 2)}


class Promises:
    """Checks the core's and the host's promises after every step of a simulation."""

    def __init__(self, simulation: Simulation) -> None:
        self.sim = simulation
        self.steps = 0
        simulation.after_step = self.check

    def fail(self, what: str) -> None:
        sim = self.sim
        raise BrokenPromise(f"seed {sim.scenario.seed}, t+{sim.now - sim.scenario.start:.0f} s: "
                            f"{what}")

    def check(self) -> None:
        self.steps += 1
        if self.steps > STEP_BUDGET:
            self.fail(f"hung: more than {STEP_BUDGET} steps in one day")
        core = self.sim.orchestrator
        if self.sim.host.lost:
            self.fail(f"tasks lost after a restart: {self.sim.host.lost}")
        chargers = [r.charger for r in core.robots.values() if r.charger]
        if len(chargers) != len(set(chargers)):
            self.fail(f"two robots hold one charger: {chargers}")
        docked = [r.position for r in core.robots.values() if r.state is RobotState.CHARGING]
        if len(docked) != len(set(docked)):
            self.fail(f"two robots charging at one place: {docked}")
        for robot in self.sim.robots.values():
            if robot.energy < -0.01 * robot.profile.battery.capacity_wh:
                self.fail(f"{robot.robot_id} ran below 0 % ({robot.energy:.1f} Wh)")
        for robot in core.robots.values():
            held = ([robot.task] if robot.task else []) + robot.queue
            for task_id in held:
                task = core.tasks.get(task_id)
                if task is None or not task.is_open:
                    self.fail(f"{robot.id} holds task {task_id}, which is not open in the core")
                if task.robot != robot.id:
                    self.fail(f"{robot.id} holds {task_id}, which is assigned to {task.robot}")

    def judge_end(self) -> None:
        """At the end of the day: every task ended with a reason or waits with one, and
        every fall was reached by a robot or taken over by staff."""
        store = self.sim.host.store
        open_in_core = set(self.sim.orchestrator.tasks)
        for record in store.all_tasks():
            state, reason = record["state"], record.get("reason", "")
            if not reason:
                self.fail(f"task {record['id']} is {state} without a reason")
            if state not in FINAL_STATES and record["id"] not in open_in_core:
                self.fail(f"task {record['id']} is {state} in the store but not in the core")
            if record["kind"] == "fall_response":
                progress = record.get("progress", {})
                if state != "completed" and not (state in {"queued", "assigned", "active"}
                                                  and self.sim.now - record["created_at"] < 600):
                    self.fail(f"fall {record['id']} ended {state}: {reason}")
                if state == "completed" and not (progress.get("reached_at")
                                                 or progress.get("acknowledged_by")):
                    self.fail(f"fall {record['id']} completed unreached and unacknowledged")
        if store.integrity() != "ok":
            self.fail(f"store damaged: {store.integrity()}")


def run_fault_day(seed: int, *, hours: float = 24.0, base: Scenario | None = None) -> Promises:
    """Play one generated day with every promise checked; raises ``BrokenPromise``."""
    simulation = Simulation(fault_day(seed, hours=hours, base=base))
    promises = Promises(simulation)
    try:
        simulation.run()
        promises.judge_end()
    finally:
        simulation.close()
    return promises
