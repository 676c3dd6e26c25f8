"""Scenario mistakes that used to surface only while the day played (a refused step
shown in the report, or a task that could never run) are refused when the file is
loaded: one ``InputError`` line naming file, line and field, and exit code 2."""

from __future__ import annotations

import textwrap

import pytest

from carefleet.cli import main
from carefleet.errors import InputError
from carefleet.simulation.scenario import load_scenario

FALL = '{at: "08:00", kind: fall, room: room_203}'
BREAKFAST = ('    - {name: breakfast, at: "07:30", rooms: [room_101, room_102, room_103, '
             'room_104, room_105, room_106]}\n')
NO_SCHEDULES = ("schedules:\n  meals:\n" + BREAKFAST, "")
CAMERA_ONLY = ("[meal_delivery, camera]", "[camera]")
SMALL_BOT = ("  robots:\n", "    small_bot: {trays: 2, capabilities: [meal_delivery]}\n  robots:\n")
TRAY_2_SMALL = ("{id: tray_2, profile: meal_bot", "{id: tray_2, profile: small_bot")
FIVE_ROOMS = "[room_101, room_102, room_103, room_104, room_105]"


def submit(task: str, at: str = "08:00", extra: str = "") -> str:
    return f'{{at: "{at}", kind: submit{extra}, task: {task}}}'


def events(*lines: str) -> tuple[str, str]:
    """Replace the minimal scenario's one event with these (events[0], events[1] ...)."""
    return ("  - " + FALL + "\n", "".join(f"  - {line}\n" for line in lines))


# name -> (replacements, field named, line, words in the message)
BROKEN = {
    # -- meal trips larger than any meal robot carries -----------------------------------
    "meal_trip_larger_than_any_tray_count": (
        [events(submit(f"{{kind: meal_delivery, rooms: {FIVE_ROOMS}}}"))],
        "events[0].task.rooms", 21, "5 rooms"),
    "meal_trip_pinned_to_a_robot_with_too_few_trays": (
        [SMALL_BOT, TRAY_2_SMALL,
         events(submit("{kind: meal_delivery, rooms: [room_101, room_102, room_103], "
                       "robot: tray_2}"))],
        "events[0].task.robot", 22, "2 trays"),
    # -- pinned robots -------------------------------------------------------------------
    "task_pinned_to_an_unknown_robot": (
        [events(submit("{kind: go_to, place: room_110, robot: tray_9}"))],
        "events[0].task.robot", 21, "tray_9"),
    "charge_of_an_unknown_robot": (
        [events(submit("{kind: charge, robot: tray_9}"))],
        "events[0].task.robot", 21, "tray_9"),
    "task_pinned_to_a_robot_without_the_capability": (
        [events(submit("{kind: patrol, checkpoints: [room_101], rounds: 1, robot: tray_1}"))],
        "events[0].task.robot", 21, "patrol"),
    "meal_pinned_to_a_robot_without_meal_delivery": (
        [("  robots:\n", "    cam_bot: {capabilities: [camera]}\n  robots:\n"),
         ("{id: tray_2, profile: meal_bot", "{id: tray_2, profile: cam_bot"),
         events(submit("{kind: meal_delivery, rooms: [room_101], robot: tray_2}"))],
        "events[0].task.robot", 22, "meal_delivery"),
    # -- no robot of the fleet can ever do the task --------------------------------------
    "patrol_submit_without_a_patrol_robot": (
        [events(submit("{kind: patrol, checkpoints: [room_101], rounds: 1}"))],
        "events[0].task.kind", 21, "patrol"),
    "meal_submit_without_a_meal_robot": (
        [NO_SCHEDULES, CAMERA_ONLY,
         events(submit("{kind: meal_delivery, rooms: [room_101]}"))],
        "events[0].task.kind", 18, "meal_delivery"),
    "meal_service_without_a_meal_robot": (
        [CAMERA_ONLY], "schedules.meals[0]", 19, "meal_delivery"),
    "patrol_schedule_without_a_patrol_robot": (
        [(BREAKFAST, BREAKFAST + "  patrols:\n    - {name: night, start: \"08:00\", "
                                 "end: \"09:00\", checkpoints: [room_101]}\n")],
        "schedules.patrols[0]", 21, "patrol"),
    # -- cancels ---------------------------------------------------------------------------
    "cancel_before_the_submit_it_names": (
        [events(submit("{kind: go_to, place: room_110}", at="09:00", extra=", id: errand"),
                '{at: "08:30", kind: cancel, task: errand}')],
        "events[1].task", 22, "errand"),
    "cancel_listed_before_a_submit_at_the_same_time": (
        [events('{at: "08:10", kind: cancel, task: errand}',
                submit("{kind: go_to, place: room_110}", at="08:10", extra=", id: errand"))],
        "events[0].task", 21, "errand"),
    "cancel_of_a_task_already_cancelled": (
        [events(submit("{kind: go_to, place: room_110}", at="08:10", extra=", id: errand"),
                '{at: "08:20", kind: cancel, task: errand}',
                '{at: "08:30", kind: cancel, task: errand}')],
        "events[2].task", 23, "already cancelled"),
    # -- time ------------------------------------------------------------------------------
    "event_after_the_end_of_the_scenario": (
        [(FALL, '{at: "10:30", kind: fall, room: room_203}')], "events[0].at", 21, "after"),
    "event_on_a_later_day_after_the_end": (
        [(FALL, '{at: "1d 08:00", kind: fall, room: room_203}')], "events[0].at", 21, "ends"),
    # -- who -------------------------------------------------------------------------------
    "staff_posing_as_the_orchestrator": (
        [events(submit("{kind: go_to, place: room_110}", extra=", by: orchestrator"))],
        "events[0].by", 21, "orchestrator"),
}


@pytest.fixture(params=sorted(BROKEN), ids=sorted(BROKEN))
def broken(request, write_scenario):
    replacements, field, line, words = BROKEN[request.param]
    return write_scenario(*replacements), field, line, words


def _assert_located(error: InputError, path, field: str, line: int, words: str) -> None:
    text = str(error)
    assert "\n" not in text
    assert words in text, text
    assert error.field == field, text
    assert error.line == line, text
    assert text.startswith(f"{path}:{line}: {field}: "), text


def test_mistake_is_refused_at_load_with_file_line_and_field(broken):
    path, field, line, words = broken
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    _assert_located(caught.value, path, field, line, words)


def test_mistake_exits_2_with_one_error_line(broken, capsys):
    path, field, line, words = broken
    assert main(["sim", str(path), "--quiet"]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"carefleet: error: {path}:{line}: {field}: ")
    assert words in lines[0] and "Traceback" not in err + out


# -- what stays valid --------------------------------------------------------------------

@pytest.mark.parametrize("replacements", [
    [events(submit("{kind: meal_delivery, rooms: [room_101, room_102, room_103, room_104]}"))],
    [events(submit("{kind: meal_delivery, rooms: [room_101, room_102], robot: tray_2}"))],
    [events(submit("{kind: go_to, place: room_110, robot: tray_1}"))],
    [events(submit("{kind: charge, robot: tray_2}"))],
    [events(submit("{kind: go_to, place: room_110}", at="08:10", extra=", id: errand"),
            '{at: "08:10", kind: cancel, task: errand}')],
    [events('{at: "08:10", kind: cancel, task: t00004}')],     # generated ids: checked in play
    [(FALL, '{at: "10:00", kind: fall, room: room_203}')],     # at the very end still plays
], ids=["meal_trip_that_fits", "meal_pinned_to_a_robot_that_carries_it", "go_to_pinned",
        "charge_of_a_fleet_robot", "cancel_right_after_its_submit", "generated_id",
        "event_at_the_end"])
def test_sound_events_still_load(write_scenario, replacements):
    load_scenario(write_scenario(*replacements))


# -- a ward without a kitchen --------------------------------------------------------------

WARD_WITHOUT_KITCHEN = textwrap.dedent("""\
    ward: Willow Cottage
    timezone: Europe/London
    floors:
      - {id: G, name: Ground floor}
    waypoints:
      - {id: g_hall, floor: G, x: 0, y: 0}
      - {id: g_dock, floor: G, x: 1, y: -2}
      - {id: g_room, floor: G, x: 4, y: 0}
    lanes:
      - {from: g_hall, to: g_dock}
      - {from: g_hall, to: g_room}
    places:
      - {id: charger, kind: charger, floor: G, waypoint: g_dock}
      - {id: room_1, kind: resident_room, floor: G, waypoint: g_room, x: 4, y: 3, name: Room 1}
    """)

COTTAGE = textwrap.dedent("""\
    name: Cottage
    ward: cottage.yaml
    start: "07:00"
    duration: 3
    fleet:
      profiles:
        meal_bot: {trays: 2, capabilities: [meal_delivery, camera]}
      robots:
        - {id: m1, profile: meal_bot, start: charger}
    """)


@pytest.mark.parametrize("tail, field, line", [
    ('schedules:\n  meals:\n    - {name: lunch, at: "08:00"}\n', "schedules.meals[0]", 12),
    ('events:\n  - {at: "08:00", kind: submit, task: {kind: meal_delivery, rooms: [room_1]}}\n',
     "events[0].task", 11),
], ids=["meal_service", "meal_submit"])
def test_meals_on_a_ward_without_a_kitchen(tmp_path, tail, field, line):
    (tmp_path / "cottage.yaml").write_text(WARD_WITHOUT_KITCHEN)
    path = tmp_path / "cottage_day.yaml"
    path.write_text(COTTAGE + tail)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    _assert_located(caught.value, path, field, line, "no kitchen")
    assert main(["sim", str(path), "--quiet"]) == 2


def test_the_cottage_without_meals_loads(tmp_path):
    (tmp_path / "cottage.yaml").write_text(WARD_WITHOUT_KITCHEN)
    path = tmp_path / "cottage_day.yaml"
    path.write_text(COTTAGE + 'events:\n  - {at: "08:00", kind: fall, room: room_1}\n')
    assert [h.kind for h in load_scenario(path).happenings] == ["fall"]
