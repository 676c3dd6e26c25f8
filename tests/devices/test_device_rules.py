"""Device rules: the bundled defaults give the right outputs, cooldown and de-duplication
hold, ward-local windows wrap midnight, and a bad rules file is one located line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from carefleet.errors import InputError
from carefleet.maps import DEMO_WARD, load_ward
from carefleet.devices.model import Device, Health, Resident
from carefleet.devices.rules import RuleBook, duration, load_rules
from carefleet.orchestrator.events import DeviceEvent, FallDetected, TaskSubmitted

WARD = load_ward(DEMO_WARD)
ZONE = ZoneInfo(WARD.timezone)
BED = Device(id="bed-101", kind="bed_exit", room="room_101")
BUTTON = Device(id="btn-102", kind="call_button", room="room_102")
BAND = Device(id="band-anna", kind="wearable", resident="anna", room="room_101")
EXIT = Device(id="door-f1", kind="door_contact", room="fire_door_f1", labels=["exit"])
INNER = Device(id="door-2", kind="door_contact", room="fire_door_f1_wing")
ANNA = Resident(id="anna", room="room_101", name="Anna")


def at(hour: int, minute: int = 0, day: int = 1) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=ZONE).timestamp()


def book() -> RuleBook:
    return RuleBook(load_rules(ward=WARD), WARD.timezone)


def event(device: Device, kind: str, room: str | None = None, **data: object) -> DeviceEvent:
    return DeviceEvent(device_id=device.id, kind=kind, room=room or device.room, data=data)


def test_bed_exit_at_night_sends_a_robot_and_tells_the_nurse() -> None:
    decision = book().evaluate(event(BED, "bed_exit"), BED, at(23, 30))
    assert decision.fired == ("bed_exit_at_night",)
    task, alert = decision.outputs
    assert task == TaskSubmitted(request={"kind": "go_to", "place": "room_101",
                                          "priority": "high"}, requested_by="device:bed-101")
    assert alert.kind == "device_alert" and alert.room == "room_101"
    assert alert.data["key"] == "device_bed_exit" and alert.data["priority"] == "medium"
    assert alert.data["params"]["rule"] == "bed_exit_at_night"


def test_bed_exit_by_day_does_nothing() -> None:
    assert book().evaluate(event(BED, "bed_exit"), BED, at(14)).outputs == ()


@pytest.mark.parametrize("hour, minute, fires", [
    (21, 59, False), (22, 0, True), (0, 0, True), (5, 59, True), (6, 0, False)])
def test_the_night_window_wraps_midnight_in_ward_local_time(hour: int, minute: int,
                                                            fires: bool) -> None:
    decision = book().evaluate(event(BED, "bed_exit"), BED, at(hour, minute))
    assert bool(decision.fired) is fires


def test_dedupe_slides_and_cooldown_holds_per_room() -> None:
    rules = book()
    t = at(23)
    fired = []
    # a chattering mat: every 20 s for two minutes is one event, then quiet...
    for step in range(7):
        fired.append(rules.evaluate(event(BED, "bed_exit"), BED, t + 20 * step).fired)
    assert fired[0] == ("bed_exit_at_night",) and not any(fired[1:])
    decision = rules.evaluate(event(BED, "bed_exit"), BED, t + 120 + 61)   # after dedupe
    assert decision.suppressed == (("bed_exit_at_night", "cooldown"),)
    assert rules.evaluate(event(BED, "bed_exit"), BED, t + 15 * 60).fired  # cooldown over
    other = Device(id="bed-103", kind="bed_exit", room="room_103")          # another room
    assert rules.evaluate(event(other, "bed_exit"), other, t + 30).fired


def test_a_call_button_is_the_cores_call_and_a_wearable_fall_or_sos_its_fall_response() -> None:
    rules = book()
    call = rules.evaluate(event(BUTTON, "call_button", request="water"), BUTTON, at(9)).outputs
    assert call == (DeviceEvent(device_id="btn-102", kind="call_button", room="room_102",
                                data={"request": "water"}),)
    fall = rules.evaluate(event(BAND, "fall", room="lounge"), BAND, at(9), resident=ANNA)
    assert fall.outputs == (FallDetected(room="lounge", source="band-anna"),)
    sos = rules.evaluate(event(BAND, "sos", room="lounge"), BAND, at(9, 5), resident=ANNA)
    assert sos.outputs == (FallDetected(room="lounge", source="band-anna"),)


def test_vitals_outside_the_residents_limits_raise_a_high_alert() -> None:
    rules = book()
    fine = rules.evaluate(event(BAND, "vitals", heart_rate=72, spo2=97), BAND, at(9),
                          resident=ANNA)
    assert fine.outputs == ()
    high = rules.evaluate(event(BAND, "vitals", heart_rate=150, spo2=97), BAND, at(9, 1),
                          resident=ANNA)
    (alert,) = high.outputs
    assert alert.data["key"] == "device_vitals" and alert.data["priority"] == "high"
    assert alert.data["params"]["heart_rate"] == "150" and alert.data["params"]["name"] == "Anna"
    low = rules.evaluate(event(BAND, "vitals", heart_rate=70, spo2=85), BAND, at(9, 2),
                         resident=ANNA)
    assert low.suppressed == (("vitals_out_of_range", "cooldown"),)
    unknown = rules.evaluate(event(BAND, "vitals", heart_rate=150), BAND, at(11))
    assert unknown.outputs == ()              # whose limits? no resident, no judgement


def test_only_an_exit_door_at_night_alerts() -> None:
    rules = book()
    assert rules.evaluate(event(EXIT, "door_open"), EXIT, at(2)).outputs[0].data["key"] == \
        "device_exit_door"
    assert rules.evaluate(event(INNER, "door_open"), INNER, at(2)).outputs == ()
    assert rules.evaluate(event(EXIT, "door_open"), EXIT, at(12)).outputs == ()


def test_conditions_on_device_health_rooms_and_data(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("""
version: 1
rules:
  - name: toilet_call_in_101
    when: {event: call_button, room: [room_101], data: {request: toilet},
           device_health: [ok, late]}
    then: {alert: {key: device_toilet, priority: low}, task: {kind: go_to, place: "{room}"}}
""")
    rules = RuleBook(load_rules(path, WARD), WARD.timezone)
    button = Device(id="btn-101", kind="call_button", room="room_101")
    hit = rules.evaluate(event(button, "call_button", request="toilet"), button, at(9),
                         health=Health.OK)
    assert [type(o).__name__ for o in hit.outputs] == ["TaskSubmitted", "DeviceEvent"]
    assert rules.evaluate(event(button, "call_button", request="help"), button, at(9),
                          health=Health.OK).outputs == ()
    assert rules.evaluate(event(button, "call_button", request="toilet"), button, at(10),
                          health=Health.BATTERY_LOW).outputs == ()
    assert rules.evaluate(event(BUTTON, "call_button", request="toilet"), BUTTON, at(11),
                          health=Health.OK).outputs == ()


@pytest.mark.parametrize("text, line, field, message", [
    ("rules: [{name: a, when: {event: bed_exit}}]", 1, "rules[0]", "missing required field 'then'"),
    ("rules:\n  - name: a\n    when: {event: teleport}\n    then: {fall: true}", 3,
     "rules[0].when.event", "'teleport' is not one of"),
    ("rules:\n  - name: a\n    when: {event: bed_exit, room: room_999}\n    then: {fall: true}",
     3, "rules[0].when.room", "unknown place 'room_999'"),
    ("rules:\n  - name: a\n    when: {event: bed_exit}\n    then: {}", 4, "rules[0].then",
     "give task, alert, fall or call"),
    ("rules:\n  - name: a\n    when: {event: bed_exit}\n    then:\n      task: {kind: go_to, "
     "place: \"{bed}\"}", 5, "rules[0].then.task.place", "'{bed}' is not one of"),
    ("rules:\n  - name: a\n    when: {event: bed_exit}\n    then:\n      task: {kind: go_to, "
     "place: nowhere}", 5, "rules[0].then.task.place", "unknown place 'nowhere'"),
    ("rules:\n  - name: a\n    when: {event: bed_exit, between: [\"22:00\"]}\n    then: "
     "{fall: true}", 3, "rules[0].when.between", "start, end"),
    ("rules:\n  - name: a\n    when: {event: bed_exit}\n    then: {alert: {key: x, priority: "
     "urgent}}", 4, "rules[0].then.alert.priority", "'urgent' is not one of"),
    ("rules:\n  - name: a\n    when: {event: bed_exit}\n    then: {fall: true}\n    cooldown: "
     "soon", 5, "rules[0].cooldown", "not seconds"),
    ("rules:\n  - {name: a, when: {event: sos}, then: {fall: true}}\n  - {name: a, when: "
     "{event: sos}, then: {fall: true}}", 3, "rules[1].name", "defined twice"),
    ("version: 2\nrules: []", 1, "version", "rules version 1"),
])
def test_a_bad_rules_file_is_one_located_line(tmp_path: Path, text: str, line: int, field: str,
                                               message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_rules(path, WARD)
    assert (caught.value.line, caught.value.field) == (line, field), str(caught.value)
    assert message in caught.value.message, str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: {field}: ")


def test_durations() -> None:
    assert duration("1h30m") == 5400 and duration("90s") == 90 and duration(0) == 0
    with pytest.raises(ValueError):
        duration("-5s")


def test_the_rules_can_be_shown() -> None:
    views = book().view()
    assert [v["name"] for v in views] == ["bed_exit_at_night", "call_button",
                                          "wearable_fall_or_sos", "vitals_out_of_range",
                                          "exit_door_at_night"]
    assert views[0]["when"]["between"] == ["22:00", "06:00"]
