"""Task requests: every kind builds from a mapping, every bad request is one ``InputError``
line naming the field, checked against the bundled demo ward."""

from __future__ import annotations

from typing import Any

import pytest

from carefleet.errors import InputError
from carefleet.maps import DEMO_WARD, Ward, load_ward
from carefleet.tasks.errands import Charge, GoTo
from carefleet.tasks.fall_response import FallResponse
from carefleet.tasks.meal import MealDelivery
from carefleet.tasks.model import Priority, TaskState
from carefleet.tasks.patrol import Patrol
from carefleet.tasks.requests import build_task, task_from_record

NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def ward() -> Ward:
    return load_ward(DEMO_WARD)


def build(ward: Ward, request: dict[str, Any], **kw: Any):
    return build_task(request, task_id=kw.pop("task_id", "t00001"), now=NOW,
                      requested_by="staff:anna", ward=ward, **kw)


def refused(ward: Ward, request: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as caught:
        build(ward, request)
    text = str(caught.value)
    assert "\n" not in text and text.startswith("task request")
    return caught.value


# == every kind builds =====================================================
def test_meal_builds_with_default_kitchen(ward: Ward) -> None:
    task = build(ward, {"kind": "meal_delivery", "rooms": ["room_101", "room_203"],
                        "meal": "lunch", "due": NOW + 600})
    assert isinstance(task, MealDelivery)
    assert (task.rooms, task.kitchen, task.meal, task.due) == (
        ["room_101", "room_203"], "kitchen", "lunch", NOW + 600)
    assert (task.id, task.priority, task.state, task.created_at, task.requested_by) == (
        "t00001", Priority.NORMAL, TaskState.QUEUED, NOW, "staff:anna")
    assert task.pickup_timeout == 180.0


def test_meal_takes_pickup_timeout_priority_and_robot(ward: Ward) -> None:
    task = build(ward, {"kind": "meal_delivery", "rooms": ["room_101"], "pickup_timeout": 60,
                        "priority": "HIGH", "robot": "r1", "kitchen": "kitchen"})
    assert (task.pickup_timeout, task.priority, task.pinned_robot) == (60.0, Priority.HIGH, "r1")


def test_patrol_builds_by_rounds_and_by_until(ward: Ward) -> None:
    by_rounds = build(ward, {"kind": "patrol", "checkpoints": ["room_101", "checkpoint_f1_wing"],
                             "rounds": 2})
    assert isinstance(by_rounds, Patrol)
    assert (by_rounds.checkpoints, by_rounds.rounds, by_rounds.until) == (
        ["room_101", "checkpoint_f1_wing"], 2, None)
    by_time = build(ward, {"kind": "patrol", "checkpoints": ["lounge"], "until": NOW + 3600})
    assert (by_time.rounds, by_time.until) == (None, NOW + 3600)


def test_fall_response_builds_and_is_always_urgent(ward: Ward) -> None:
    task = build(ward, {"kind": "fall_response", "room": "room_203", "source": "camera_203",
                        "priority": "low"})
    assert isinstance(task, FallResponse)
    assert (task.room, task.source, task.priority) == ("room_203", "camera_203", Priority.URGENT)
    assert build(ward, {"kind": "fall_response", "room": "room_101"}).priority is Priority.URGENT


def test_go_to_builds(ward: Ward) -> None:
    task = build(ward, {"kind": "go_to", "place": "nurse_station_f2"})
    assert isinstance(task, GoTo) and task.place == "nurse_station_f2"
    assert task.priority is Priority.NORMAL


def test_charge_builds_high_priority_with_optional_charger(ward: Ward) -> None:
    task = build(ward, {"kind": "charge", "robot": "r1"})
    assert isinstance(task, Charge)
    assert (task.pinned_robot, task.charger, task.priority) == ("r1", None, Priority.HIGH)
    assert build(ward, {"kind": "charge", "robot": "r1", "charger": "charger_f2"}).charger == "charger_f2"
    assert build(ward, {"kind": "charge", "robot": "r1", "priority": "low"}).priority is Priority.LOW


# == refusals ==============================================================
@pytest.mark.parametrize(("request_", "field", "words"), [
    ({"kind": "teleport"}, "kind", "not one of"),
    ({}, None, "missing required field 'kind'"),
    ({"kind": "meal_delivery", "rooms": ["room_999"]}, "rooms", "unknown place 'room_999'"),
    ({"kind": "meal_delivery", "rooms": ["room_101", "bed_102"]}, "rooms",
     "'bed_102' is a bed, expected a resident_room"),
    ({"kind": "meal_delivery", "rooms": ["kitchen"]}, "rooms", "is a kitchen"),
    ({"kind": "meal_delivery", "rooms": []}, "rooms", "at least one place"),
    ({"kind": "meal_delivery", "rooms": "room_101"}, "rooms", "expected a list"),
    ({"kind": "meal_delivery"}, None, "missing required field 'rooms'"),
    ({"kind": "meal_delivery", "rooms": ["room_101"], "kitchen": "room_102"}, "kitchen",
     "expected a kitchen"),
    ({"kind": "meal_delivery", "rooms": ["room_101"], "pickup_timeout": 0}, "pickup_timeout",
     "greater than 0"),
    ({"kind": "meal_delivery", "rooms": ["room_101"], "priority": "asap"}, "priority",
     "'asap' is not one of: urgent, high, normal, low"),
    ({"kind": "go_to", "place": "lounge", "priority": 3}, "priority", "not one of"),
    ({"kind": "meal_delivery", "rooms": ["room_101"], "romes": ["room_102"]}, "romes",
     "unknown field"),
    ({"kind": "patrol", "checkpoints": ["lounge"], "rounds": 2, "untill": NOW + 5}, "untill",
     "unknown field"),
    ({"kind": "patrol", "checkpoints": ["lounge"], "until": NOW - 1}, "until", "already over"),
    ({"kind": "patrol", "checkpoints": ["lounge"], "until": NOW}, "until", "already over"),
    ({"kind": "patrol", "checkpoints": ["lounge"], "rounds": 0}, "rounds", "at least 1"),
    ({"kind": "patrol", "checkpoints": ["lounge"], "rounds": 1.5}, "rounds", "whole number"),
    ({"kind": "patrol", "checkpoints": []}, "checkpoints", "at least one place"),
    ({"kind": "fall_response", "room": "room_777"}, "room", "unknown place"),
    ({"kind": "go_to", "place": "mars"}, "place", "unknown place 'mars'"),
    ({"kind": "go_to", "place": "lounge", "due": "soon"}, "due", "expected a number"),
    ({"kind": "charge"}, None, "missing required field 'robot'"),
    ({"kind": "charge", "robot": "r1", "charger": "kitchen"}, "charger", "expected a charger"),
], ids=lambda v: None)
def test_bad_request_names_the_field(ward: Ward, request_: dict, field: str | None,
                                     words: str) -> None:
    error = refused(ward, request_)
    assert error.field == field
    assert words in error.message
    if field is not None:
        assert f": {field}: " in str(error)


def test_error_names_the_source(ward: Ward) -> None:
    with pytest.raises(InputError, match=r"^meal service 'lunch': rooms: "):
        build(ward, {"kind": "meal_delivery", "rooms": ["nowhere"]}, source="meal service 'lunch'")


def test_record_of_unknown_kind_is_refused() -> None:
    with pytest.raises(InputError, match="unknown task kind 'teleport'") as caught:
        task_from_record({"id": "t9", "kind": "teleport"})
    assert caught.value.field == "task t9"


def test_built_task_record_rebuilds_identically(ward: Ward) -> None:
    task = build(ward, {"kind": "patrol", "checkpoints": ["room_101"], "rounds": 3,
                        "robot": "r2", "due": NOW + 10})
    assert task_from_record(task.to_record()).to_record() == task.to_record()
