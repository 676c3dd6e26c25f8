"""Task lifecycle and each task type's step machine, from their transition data, plus the
step logic (meal trips, patrol rounds and windows, fall hand-over, charge, go-to) and the
record round trip a restart depends on."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import pytest

from carefleet.errors import IllegalTransition
from carefleet.tasks.errands import Charge, ChargeStep, GoTo, GoToStep
from carefleet.tasks.fall_response import FallResponse, FallStep
from carefleet.tasks.meal import PICKUP_TIMEOUT, MealDelivery, MealStep
from carefleet.tasks.model import (FINAL, LIFECYCLE, LIFECYCLE_MACHINE, Act, DockAt, Go,
                                   Priority, Task, TaskState)
from carefleet.tasks.patrol import Patrol
from carefleet.tasks.requests import task_from_record

COMMON = {"priority": Priority.NORMAL, "created_at": 1000.0, "requested_by": "staff:anna"}


def meal(**kw: Any) -> MealDelivery:
    args = {"rooms": ["room_101", "room_103", "room_105"], "kitchen": "kitchen", "meal": "lunch"}
    return MealDelivery(id=kw.pop("id", "t1"), **{**COMMON, **args, **kw})


def patrol(**kw: Any) -> Patrol:
    args = {"checkpoints": ["room_101", "checkpoint_f1_wing"]}
    return Patrol(id=kw.pop("id", "t2"), **{**COMMON, **args, **kw})


def fall(**kw: Any) -> FallResponse:
    args = {"room": "room_203", "source": "camera_203", "priority": Priority.URGENT}
    return FallResponse(id=kw.pop("id", "t3"), **{**COMMON, **args, **kw})


def go_to(**kw: Any) -> GoTo:
    return GoTo(id=kw.pop("id", "t4"), **{**COMMON, "place": "nurse_station_f1", **kw})


def charge(**kw: Any) -> Charge:
    return Charge(id=kw.pop("id", "t5"), **{**COMMON, "charger": "charger_f1", "robot": "r1",
                                            "priority": Priority.HIGH, **kw})


FACTORIES = {MealDelivery: meal, Patrol: patrol, FallResponse: fall, GoTo: go_to, Charge: charge}


def _sources(transition: dict, states: type[Enum]) -> list[Enum]:
    source = transition["source"]
    if source == "*":
        return list(states)
    return list(source) if isinstance(source, list) else [source]


def _cases(data: list[dict], states: type[Enum]) -> tuple[list, list]:
    allowed = [(t["trigger"], s, t["dest"]) for t in data for s in _sources(t, states)]
    pairs = {(trigger, s) for trigger, s, _ in allowed}
    triggers = sorted({t["trigger"] for t in data})
    refused = [(trigger, s) for s in states for trigger in triggers if (trigger, s) not in pairs]
    return allowed, refused


# == task lifecycle ========================================================
LIFE_ALLOWED, LIFE_REFUSED = _cases(LIFECYCLE, TaskState)


def task_in(state: TaskState) -> GoTo:
    task = go_to()
    LIFECYCLE_MACHINE.set_state(state, model=task)
    return task


def test_new_task_is_queued_and_pending() -> None:
    task = go_to()
    assert (task.state, task.step) == (TaskState.QUEUED, GoToStep.PENDING)
    assert task.is_open and task.history == []


@pytest.mark.parametrize(("trigger", "source", "dest"), LIFE_ALLOWED,
                         ids=[f"{s.value}-{t}-{d.value}" for t, s, d in LIFE_ALLOWED])
def test_lifecycle_transition(trigger: str, source: TaskState, dest: TaskState) -> None:
    task = task_in(source)
    task.move(trigger, 1234.0, "because")
    assert task.state is dest
    assert task.reason == "because"
    assert task.history[-1] == (1234.0, dest.value, "because")
    assert task.is_open is (dest not in FINAL)
    assert task.finished_at == (1234.0 if dest in FINAL else None)


@pytest.mark.parametrize(("trigger", "state"), LIFE_REFUSED,
                         ids=[f"{s.value}-{t}" for t, s in LIFE_REFUSED])
def test_lifecycle_refused(trigger: str, state: TaskState) -> None:
    task = task_in(state)
    with pytest.raises(IllegalTransition) as caught:
        task.move(trigger, 1.0, "no")
    assert task.state is state and task.history == [] and task.reason == ""
    assert "task t4" in str(caught.value)
    assert (caught.value.state, caught.value.event) == (state.value, trigger)


@pytest.mark.parametrize("final", ["complete", "fail", "cancel"])
def test_finished_task_refuses_everything_afterwards(final: str) -> None:
    task = task_in(TaskState.ACTIVE)
    task.move(final, 5.0, "end")
    for trigger in sorted({t["trigger"] for t in LIFECYCLE}):
        with pytest.raises(IllegalTransition):
            task.move(trigger, 6.0, "again")
    assert task.finished_at == 5.0 and len(task.history) == 1


def test_sort_key_orders_priority_then_due_then_submission() -> None:
    urgent = fall(id="a", created_at=50.0)
    early = meal(id="b", due=10.0, created_at=40.0)
    late = meal(id="c", due=20.0, created_at=30.0)
    plain = go_to(id="d", created_at=15.0)       # no due: submission time counts
    assert sorted([plain, late, early, urgent], key=Task.sort_key) == [urgent, early, plain, late]


# == step machines, generated from each type's STEPS =========================
STEP_ALLOWED: list[tuple] = []
STEP_REFUSED: list[tuple] = []
for _cls in FACTORIES:
    _allowed, _refused = _cases(_cls.STEPS, _cls.Step)
    STEP_ALLOWED += [(_cls, *case) for case in _allowed]
    STEP_REFUSED += [(_cls, *case) for case in _refused]


def task_at(cls: type[Task], step: Enum) -> Task:
    task = FACTORIES[cls]()
    cls.step_machine.set_state(step, model=task)
    return task


@pytest.mark.parametrize(("cls", "trigger", "source", "dest"), STEP_ALLOWED,
                         ids=[f"{c.kind}-{s.value}-{t}-{d.value}" for c, t, s, d in STEP_ALLOWED])
def test_step_transition(cls: type[Task], trigger: str, source: Enum, dest: Enum) -> None:
    task = task_at(cls, source)
    task.go(trigger)
    assert task.step is dest
    assert task.state is TaskState.QUEUED      # steps never touch the lifecycle


@pytest.mark.parametrize(("cls", "trigger", "step"), STEP_REFUSED,
                         ids=[f"{c.kind}-{s.value}-{t}" for c, t, s in STEP_REFUSED])
def test_step_refused(cls: type[Task], trigger: str, step: Enum) -> None:
    task = task_at(cls, step)
    with pytest.raises(IllegalTransition) as caught:
        task.go(trigger)
    assert task.step is step
    assert f"{cls.kind} {task.id}" in str(caught.value)
    assert (caught.value.state, caught.value.event) == (step.value, trigger)


@pytest.mark.parametrize("cls", list(FACTORIES), ids=[c.kind for c in FACTORIES])
def test_arrival_outside_a_drive_is_refused(cls: type[Task]) -> None:
    for step in cls.Step:
        if step in cls.ARRIVALS:
            continue
        task = task_at(cls, step)
        with pytest.raises(IllegalTransition):
            task.arrived(1.0)
        assert task.step is step


@pytest.mark.parametrize("cls", list(FACTORIES), ids=[c.kind for c in FACTORIES])
def test_interrupt_returns_to_pending_from_every_working_step(cls: type[Task]) -> None:
    for step in cls.Step:
        task = task_at(cls, step)
        task.interrupt(same_robot=True)
        assert task.step is (step if step is cls.Step.DONE else cls.Step.PENDING)


# == meal delivery =========================================================
def test_meal_full_trip_serves_rooms_in_order_and_returns() -> None:
    task = meal()
    task.begin(0.0)
    assert (task.step, task.order()) == (MealStep.TO_KITCHEN, Go("kitchen"))
    task.arrived(10.0)
    load = task.order()
    assert isinstance(load, Act) and (load.action, load.place) == ("load_trays", "kitchen")
    assert load.params == {"trays": 3, "meal": "lunch"}
    task.action_done(True, 70.0)
    assert task.loaded and task.order() == Go("room_101")
    visited = []
    for t, room in ((100.0, "room_101"), (200.0, "room_103"), (300.0, "room_105")):
        assert task.order() == Go(room)
        task.arrived(t)
        pickup = task.order()
        assert isinstance(pickup, Act) and (pickup.action, pickup.place) == ("await_pickup", room)
        assert pickup.timeout == PICKUP_TIMEOUT
        task.action_done(True, t + 30)
        visited.append(room)
    assert task.delivered == visited == ["room_101", "room_103", "room_105"]
    assert task.delivered_at == {"room_101": 130.0, "room_103": 230.0, "room_105": 330.0}
    assert (task.step, task.order()) == (MealStep.RETURNING, Go("kitchen"))
    task.arrived(400.0)
    assert task.done and task.order() is None and task.missed == []


def test_meal_pickup_timeout_marks_room_missed_and_moves_on() -> None:
    task = meal(rooms=["room_101", "room_103"], pickup_timeout=90.0)
    task.begin(0.0); task.arrived(1.0); task.action_done(True, 2.0)
    task.arrived(3.0)
    assert task.order().timeout == 90.0
    task.action_done(False, 93.0)          # nobody took the tray
    assert task.missed == ["room_101"] and task.delivered == []
    assert task.order() == Go("room_103")
    task.arrived(100.0); task.action_done(True, 110.0)
    assert task.delivered == ["room_103"] and task.remaining == []
    assert task.order() == Go("kitchen")


def test_meal_failed_loading_starts_over_from_the_kitchen() -> None:
    task = meal()
    task.begin(0.0); task.arrived(1.0)
    task.action_done(False, 300.0)
    assert task.step is MealStep.PENDING and not task.loaded
    task.begin(301.0)
    assert task.order() == Go("kitchen")


def _serve_first_room(task: MealDelivery) -> None:
    task.begin(0.0); task.arrived(1.0); task.action_done(True, 2.0)
    task.arrived(3.0); task.action_done(True, 4.0)
    assert task.delivered == ["room_101"] and task.order() == Go("room_103")


def test_meal_interrupt_other_robot_forgets_trays_and_reloads() -> None:
    task = meal()
    _serve_first_room(task)
    task.interrupt(same_robot=False)
    assert task.step is MealStep.PENDING and not task.loaded
    task.begin(10.0)
    assert task.order() == Go("kitchen")
    task.arrived(11.0)
    assert task.order().params["trays"] == 2          # only the rooms still to serve
    task.action_done(True, 12.0)
    assert task.order() == Go("room_103")              # delivered room not served again


def test_meal_interrupt_same_robot_keeps_trays_and_resumes_next_room() -> None:
    task = meal()
    _serve_first_room(task)
    task.interrupt(same_robot=True)
    assert task.step is MealStep.PENDING and task.loaded
    task.begin(10.0)
    assert (task.step, task.order()) == (MealStep.TO_ROOM, Go("room_103"))


def test_meal_interrupt_while_waiting_at_door_retries_that_door() -> None:
    task = meal()
    _serve_first_room(task)
    task.arrived(5.0)                                  # at room_103's door
    task.interrupt(same_robot=True)
    task.begin(6.0)
    assert task.order() == Go("room_103")


def test_meal_with_every_room_served_just_heads_back() -> None:
    task = meal(rooms=["room_101"])
    task.delivered = ["room_101"]
    task.begin(0.0)
    assert (task.step, task.order()) == (MealStep.RETURNING, Go("kitchen"))


def test_meal_plan_loads_only_when_not_loaded() -> None:
    task = meal(rooms=["room_101", "room_103"])
    assert [type(o).__name__ for o in task.plan(0.0)] == ["Go", "Act", "Go", "Act", "Go", "Act", "Go"]
    task.loaded, task.delivered = True, ["room_101"]
    plan = task.plan(0.0)
    assert [o.place for o in plan] == ["room_103", "room_103", "kitchen"]


# == patrol ================================================================
def _walk_checkpoint(task: Patrol, now: float) -> str:
    order = task.order()
    assert isinstance(order, Go)
    task.arrived(now)
    scan = task.order()
    assert isinstance(scan, Act) and scan.action == "scan" and scan.place == order.place
    task.action_done(True, now + 20)
    return order.place


def test_patrol_by_rounds_visits_checkpoints_in_order() -> None:
    task = patrol(rounds=2)
    task.begin(0.0)
    places = []
    t = 0.0
    while not task.done:
        places.append(_walk_checkpoint(task, t))
        t += 100
    assert places == ["room_101", "checkpoint_f1_wing"] * 2
    assert (task.rounds_done, task.scans, task.order()) == (2, 4, None)


def test_patrol_without_rounds_or_until_walks_one_round() -> None:
    task = patrol()
    assert task.rounds == 1 and not task.open_ended
    task.begin(0.0)
    _walk_checkpoint(task, 1.0)
    _walk_checkpoint(task, 2.0)
    assert task.done


def test_patrol_until_walks_rounds_until_the_window_ends() -> None:
    task = patrol(until=1000.0)
    assert task.rounds is None and task.open_ended
    task.begin(0.0)
    t = 0.0
    while not task.done:
        _walk_checkpoint(task, t)
        t += 150
    # scans end at 20, 170, ..., 920 (still inside), 1070 (window over): 8 scans
    assert task.scans == 8 and task.rounds_done == 4


def test_patrol_starting_after_its_window_is_done_at_once() -> None:
    task = patrol(until=1000.0)
    task.begin(1000.0)
    assert task.done and task.order() is None


def test_patrol_interrupt_resumes_at_next_checkpoint() -> None:
    task = patrol(rounds=1, checkpoints=["room_101", "room_103", "room_105"])
    task.begin(0.0)
    _walk_checkpoint(task, 1.0)
    task.interrupt(same_robot=False)
    task.begin(5.0)
    assert task.order() == Go("room_103")
    assert [o.place for o in task.plan(5.0) if isinstance(o, Go)] == ["room_103", "room_105"]


def test_patrol_plan_covers_remaining_rounds() -> None:
    task = patrol(rounds=2)
    task.next_index = 1
    assert [o.place for o in task.plan(0.0) if isinstance(o, Go)] == [
        "checkpoint_f1_wing", "room_101", "checkpoint_f1_wing"]


# == fall response =========================================================
def test_fall_acknowledged_after_arrival() -> None:
    task = fall()
    task.begin(0.0)
    assert task.order() == Go("room_203")
    task.arrived(60.0)
    order = task.order()
    assert isinstance(order, Act) and order.action == "attend" and order.params == {"task": "t3"}
    task.action_done(True, 400.0)                        # attend ended early: stays
    assert task.step is FallStep.ATTENDING and task.order() == order
    task.acknowledge("nurse_li", 500.0)
    assert task.done and task.order() is None
    assert (task.reached_at, task.acknowledged_by, task.acknowledged_at) == (60.0, "nurse_li", 500.0)


def test_fall_acknowledged_before_arrival() -> None:
    task = fall()
    task.begin(0.0)
    task.acknowledge("nurse_li", 30.0)
    assert task.done and task.reached_at is None and task.acknowledged_by == "nurse_li"


def test_fall_acknowledged_before_any_robot_started() -> None:
    task = fall()
    task.acknowledge("nurse_li", 5.0)
    assert task.done


def test_fall_keeps_first_arrival_time_after_interrupt() -> None:
    task = fall()
    task.begin(0.0); task.arrived(60.0)
    task.interrupt(same_robot=False)
    task.begin(70.0); task.arrived(90.0)
    assert task.reached_at == 60.0 and task.step is FallStep.ATTENDING


def test_fall_twice_acknowledged_is_refused() -> None:
    task = fall()
    task.acknowledge("a", 1.0)
    with pytest.raises(IllegalTransition):
        task.acknowledge("b", 2.0)


# == charge and go-to ======================================================
def test_charge_goes_docks_and_ends_when_charged() -> None:
    task = charge()
    task.begin(0.0)
    assert task.order() == Go("charger_f1") and task.plan(0.0) == [Go("charger_f1")]
    task.arrived(30.0)
    assert (task.step, task.order()) == (ChargeStep.CHARGING, DockAt("charger_f1"))
    task.action_done(True, 40.0)                          # results do not end a charge
    assert task.step is ChargeStep.CHARGING
    task.go("charged")
    assert task.done and task.order() is None


def test_charge_without_charger_has_no_order_yet() -> None:
    task = charge(charger=None)
    task.begin(0.0)
    assert task.order() is None and task.plan(0.0) == []


def test_go_to_goes_and_is_done_on_arrival() -> None:
    task = go_to()
    task.begin(0.0)
    assert (task.step, task.order()) == (GoToStep.TRAVELLING, Go("nurse_station_f1"))
    task.arrived(12.0)
    assert task.done and task.order() is None


# == records ===============================================================
def _round_trip(task: Task) -> Task:
    record = json.loads(json.dumps(task.to_record()))
    return task_from_record(record)


def test_meal_record_round_trip_keeps_progress() -> None:
    task = meal(due=5000.0, pickup_timeout=120.0)
    LIFECYCLE_MACHINE.set_state(TaskState.ACTIVE, model=task)
    task.robot, task.attempts, task.failed_on = "r2", 1, ["r1"]
    _serve_first_room(task)
    task.arrived(5.0); task.action_done(False, 6.0)    # room_103 missed
    back = _round_trip(task)
    assert isinstance(back, MealDelivery)
    assert (back.id, back.kind, back.priority, back.due, back.created_at, back.requested_by) == (
        "t1", "meal_delivery", Priority.NORMAL, 5000.0, 1000.0, "staff:anna")
    assert back.rooms == task.rooms and back.kitchen == "kitchen" and back.meal == "lunch"
    assert back.delivered == ["room_101"] and back.missed == ["room_103"]
    assert back.delivered_at == {"room_101": 4.0}
    assert back.remaining == ["room_105"] and back.loaded and back.pickup_timeout == 120.0
    assert (back.attempts, back.failed_on) == (1, ["r1"])
    assert (back.state, back.step, back.robot) == (TaskState.QUEUED, MealStep.PENDING, None)
    back.begin(10.0)
    assert back.order() == Go("room_105")
    assert back.to_record()["progress"] == task.to_record()["progress"]


def test_patrol_record_round_trip_keeps_position_in_round() -> None:
    task = patrol(until=9000.0)
    task.begin(0.0)
    _walk_checkpoint(task, 1.0); _walk_checkpoint(task, 2.0); _walk_checkpoint(task, 3.0)
    back = _round_trip(task)
    assert isinstance(back, Patrol)
    assert (back.until, back.rounds, back.next_index, back.rounds_done, back.scans) == (
        9000.0, None, 1, 1, 3)
    back.begin(4.0)
    assert back.order() == Go("checkpoint_f1_wing")


@pytest.mark.parametrize("make", [fall, go_to, charge], ids=["fall", "go_to", "charge"])
def test_simple_records_round_trip(make: Any) -> None:
    task = make()
    back = _round_trip(task)
    assert type(back) is type(task)
    assert back.to_record() == task.to_record()
    assert back.pinned_robot == task.pinned_robot


def test_fall_record_keeps_arrival_and_acknowledgement() -> None:
    task = fall()
    task.begin(0.0); task.arrived(42.0)
    back = _round_trip(task)
    assert back.reached_at == 42.0 and back.room == "room_203" and back.source == "camera_203"
    assert back.priority is Priority.URGENT
