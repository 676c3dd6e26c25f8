"""Turning a task request (a mapping from staff, a schedule, a scenario or the API) into a Task.

Request format (JSON/YAML mapping); ``priority`` (urgent/high/normal/low) and
``robot`` (pin to one robot) are optional everywhere:

- ``{kind: meal_delivery, rooms: [room_101, room_102], meal: lunch, due: <epoch s>}``
- ``{kind: patrol, checkpoints: [room_101, corridor_f1_mid], rounds: 2}`` or ``until: <epoch s>``
- ``{kind: fall_response, room: room_203, source: camera_203}`` (always urgent)
- ``{kind: go_to, place: nurse_station_f1}``
- ``{kind: charge, robot: r1}``

Every place is checked against the ward, so "room 999" is refused with a one-line
error naming the request's source and field instead of failing later on a robot.
"""

from __future__ import annotations

import inspect
from typing import Any

from carefleet.errors import InputError
from carefleet.maps.model import PlaceKind, Ward
from carefleet.tasks.errands import Charge, GoTo
from carefleet.tasks.fall_response import FallResponse
from carefleet.tasks.meal import MealDelivery
from carefleet.tasks.model import Priority, Task
from carefleet.tasks.patrol import Patrol
from carefleet.fields import Reader

TASK_TYPES: dict[str, type[Task]] = {
    cls.kind: cls for cls in (MealDelivery, Patrol, FallResponse, GoTo, Charge)}

_COMMON = ("kind", "priority", "robot", "due")
_DEFAULT_PRIORITY = {"fall_response": Priority.URGENT, "charge": Priority.HIGH}


def build_task(request: dict[str, Any], *, task_id: str, now: float, requested_by: str,
               ward: Ward, source: str = "task request", field: str = "") -> Task:
    """Validate ``request`` against ``ward`` and build the task (state ``queued``).

    ``source`` and ``field`` locate the request in error messages (a file and the
    dotted path of the request inside it).
    """
    reader = Reader(source, request, field)
    kind = reader.str("kind", choices=sorted(TASK_TYPES))
    default_priority = _DEFAULT_PRIORITY.get(kind, Priority.NORMAL)
    priority = reader.convert("priority", lambda v: Priority.parse(str(v)), default_priority)
    if kind == "fall_response":
        priority = Priority.URGENT
    common: dict[str, Any] = {
        "id": task_id, "priority": priority, "created_at": now, "requested_by": requested_by,
        "robot": reader.str("robot", None), "due": reader.number("due", None)}
    return _BUILDERS[kind](reader, ward, common)


def check_place(reader: Reader, ward: Ward, key: str, value: str,
                kinds: tuple[PlaceKind, ...] = ()) -> str:
    """``value`` if it is a place of ``ward`` (of one of ``kinds``, when given); else a
    located error on ``key``. Scenario files check their places the same way."""
    place = ward.places.get(value)
    if place is None:
        raise reader.error(key, f"unknown place '{value}' in ward '{ward.name}'")
    if kinds and place.kind not in kinds:
        wanted = " or ".join(k.value for k in kinds)
        raise reader.error(key, f"'{value}' is a {place.kind.value}, expected a {wanted}")
    return value


def _places(reader: Reader, ward: Ward, key: str, kinds: tuple[PlaceKind, ...] = ()) -> list[str]:
    values = reader.strings(key)
    if not values:
        raise reader.error(key, "must list at least one place")
    return [check_place(reader, ward, key, value, kinds) for value in values]


def _meal(reader: Reader, ward: Ward, common: dict[str, Any]) -> Task:
    reader.only(*_COMMON, "rooms", "meal", "kitchen", "pickup_timeout")
    kitchens = ward.places_of_kind(PlaceKind.KITCHEN)
    default_kitchen = kitchens[0].id if kitchens else None
    kitchen = reader.str("kitchen", default_kitchen)
    if kitchen is None:
        raise reader.error(None, f"ward '{ward.name}' has no kitchen to load meals at")
    return MealDelivery(
        rooms=_places(reader, ward, "rooms", (PlaceKind.RESIDENT_ROOM,)),
        kitchen=check_place(reader, ward, "kitchen", kitchen, (PlaceKind.KITCHEN,)),
        meal=reader.str("meal", ""),
        pickup_timeout=reader.number("pickup_timeout", 180.0, positive=True), **common)


def _patrol(reader: Reader, ward: Ward, common: dict[str, Any]) -> Task:
    reader.only(*_COMMON, "checkpoints", "rounds", "until")
    rounds = reader.number("rounds", None, minimum=1, integer=True)
    until = reader.number("until", None)
    if until is not None and until <= common["created_at"]:
        raise reader.error("until", "the patrol window is already over")
    return Patrol(checkpoints=_places(reader, ward, "checkpoints"), rounds=rounds, until=until,
                  **common)


def _fall(reader: Reader, ward: Ward, common: dict[str, Any]) -> Task:
    reader.only(*_COMMON, "room", "source")
    room = check_place(reader, ward, "room", reader.str("room"))
    return FallResponse(room=room, source=reader.str("source", ""), **common)


def _go_to(reader: Reader, ward: Ward, common: dict[str, Any]) -> Task:
    reader.only(*_COMMON, "place")
    return GoTo(place=check_place(reader, ward, "place", reader.str("place")), **common)


def _charge(reader: Reader, ward: Ward, common: dict[str, Any]) -> Task:
    reader.only(*_COMMON, "charger")
    if common["robot"] is None:
        raise reader.error(None, "missing required field 'robot' (which robot to charge)")
    charger = reader.str("charger", None)
    if charger is not None:
        check_place(reader, ward, "charger", charger, (PlaceKind.CHARGER,))
    return Charge(charger=charger, **common)


_BUILDERS = {"meal_delivery": _meal, "patrol": _patrol, "fall_response": _fall,
             "go_to": _go_to, "charge": _charge}


def task_from_record(record: dict[str, Any]) -> Task:
    """Rebuild an unfinished task from its stored record (see ``Task.to_record``)."""
    cls = TASK_TYPES.get(record.get("kind", ""))
    if cls is None:
        raise InputError("task store", f"unknown task kind {record.get('kind')!r}",
                         field=f"task {record.get('id')}")
    progress = dict(record.get("progress", {}))
    accepted = inspect.signature(cls.__init__).parameters
    args = {name: progress.pop(name) for name in list(progress) if name in accepted}
    task = cls(id=record["id"], priority=Priority.parse(record["priority"]),
               created_at=record["created_at"], requested_by=record["requested_by"],
               robot=record.get("robot"), due=record.get("due"), **args)
    task.restore_progress({**record, "progress": progress})
    return task

