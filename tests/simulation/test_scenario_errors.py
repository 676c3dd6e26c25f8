"""Broken scenario files: each gives one ``InputError`` line naming the file, the field
and (where there is one) the line, and ``carefleet sim`` turns it into exit code 2 with
exactly one ``carefleet: error:`` line on stderr, never a traceback."""

from __future__ import annotations

import pytest

from carefleet.cli import main
from carefleet.errors import InputError
from carefleet.simulation.scenario import load_scenario

FALL = '{at: "08:00", kind: fall, room: room_203}'

# name -> (replacements on the minimal scenario, field named, line number or None, words)
BROKEN = {
    "malformed_yaml": ([("name: Tiny morning\n", "name: [unclosed\n")], None, 2, "malformed YAML"),
    "unknown_top_level_field": ([("seed: 3\n", "seed: 3\nweather: sunny\n")], "weather", 7,
                                "unknown field"),
    "unknown_room_in_meal_schedule": ([("room_105, room_106]", "room_105, room_999]")],
                                      "schedules.meals[0].rooms", 19, "room_999"),
    "meal_room_that_is_no_resident_room": ([("room_106]", "kitchen]")],
                                           "schedules.meals[0].rooms", 19, "kitchen"),
    "unknown_robot_in_event": ([(FALL, '{at: "08:00", kind: robot_fault, robot: tray_9}')],
                               "events[0].robot", 21, "tray_9"),
    "negative_speed": ([("speed: 0.8", "speed: -0.5")], "fleet.profiles.meal_bot.speed", 11,
                       "-0.5"),
    "meal_robot_without_trays": ([("trays: 4", "trays: 0")], "fleet.profiles.meal_bot.trays", 12,
                                 "tray"),
    "unknown_event_kind": ([("kind: fall,", "kind: earthquake,")], "events[0].kind", 21,
                           "earthquake"),
    "event_before_start": ([('{at: "08:00"', '{at: "06:00"')], "events[0].at", 21, "before"),
    "event_bad_clock_format": ([('{at: "08:00"', '{at: "8 o\'clock"')], "events[0].at", 21,
                               "not a time"),
    "event_impossible_hour": ([('{at: "08:00"', '{at: "25:00"')], "events[0].at", 21, "hour"),
    "unknown_kpi_in_expect": ([("{kpi: tasks_lost, max: 0}", "{kpi: happiness, max: 0}")],
                              "expect[1].kpi", 24, "happiness"),
    "expectation_without_bounds": ([("{kpi: tasks_lost, max: 0}", "{kpi: tasks_lost}")],
                                   "expect[1]", 24, "'min' or 'max'"),
    "unknown_ward_file": ([("ward: demo_ward", "ward: no_such_ward")], "ward", 2, "no_such_ward"),
    "unknown_closable_passage": ([(FALL, '{at: "08:00", kind: close, what: secret_tunnel}')],
                                 "events[0].what", 21, "secret_tunnel"),
    "duplicate_robot_id": ([("{id: tray_2, profile", "{id: tray_1, profile")],
                           "fleet.robots[1].id", 16, "tray_1"),
    "duplicate_schedule_name": ([("room_105, room_106]}",
                                  'room_105, room_106]}\n    - {name: breakfast, at: "08:30"}')],
                                "schedules.meals[1].name", 20, "breakfast"),
    "meal_hot_limit_shorter_than_one_tray": ([("room_105, room_106]", "room_105, room_106], hot_limit: 1")],
                                            "schedules.meals[0].hot_limit", 19,
                                            "less than loading and one tray to room_10"),
    "meal_lead_over_two_hours": ([("room_105, room_106]", "room_105, room_106], lead: 200")],
                                 "schedules.meals[0].lead", 19, "at most 120"),
    "unknown_robot_profile": ([("{id: tray_2, profile: meal_bot", "{id: tray_2, profile: mael_bot")],
                              "fleet.robots[1].profile", 16, "mael_bot"),
    "unknown_robot_start": ([("start: kitchen}", "start: moon}")], "fleet.robots[1].start", 16,
                            "moon"),
    "battery_level_above_one": ([(FALL, '{at: "08:00", kind: battery, robot: tray_1, level: 1.5}')],
                                "events[0].level", 21, "1.5"),
    "field_of_another_event_kind": ([(FALL, '{at: "08:00", kind: fall, room: room_203, robot: tray_1}')],
                                    "events[0].robot", 21, "unknown field"),
    "unknown_capability": ([("[meal_delivery, camera]", "[meal_delivery, flying]")],
                           "fleet.profiles.meal_bot.capabilities", 13, "flying"),
    "duplicate_yaml_key": ([("seed: 3\n", "seed: 3\nseed: 4\n")], None, 7, "duplicate key"),
    "bad_pickup_delay": ([("events:", "residents: {pickup_delay: [90, 15]}\nevents:")],
                         "residents.pickup_delay", 20, "low"),
}


@pytest.fixture(params=sorted(BROKEN), ids=sorted(BROKEN))
def broken(request, write_scenario):
    replacements, field, line, words = BROKEN[request.param]
    return write_scenario(*replacements), field, line, words


def test_the_minimal_scenario_itself_is_valid(write_scenario):
    scenario = load_scenario(write_scenario())
    assert [r.id for r in scenario.robots] == ["tray_1", "tray_2"]
    assert scenario.end - scenario.start == 3 * 3600
    assert [h.kind for h in scenario.happenings] == ["fall"]


def test_broken_scenario_raises_one_located_line(broken):
    path, field, line, words = broken
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    error = caught.value
    text = str(error)
    assert "\n" not in text
    assert text.startswith(str(path))
    assert words in text
    if field is not None:
        assert error.field == field
        assert f": {field}: " in text
    if line is not None:
        assert error.line == line
        assert text.startswith(f"{path}:{line}: ")


def test_broken_scenario_exits_2_with_one_error_line(broken, capsys):
    path, field, line, words = broken
    assert main(["sim", str(path), "--quiet"]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("carefleet: error: ")
    assert str(path) in lines[0] and words in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize("text, words", [
    ("", "expected a mapping"),
    ("- a\n- b\n", "expected a mapping"),
], ids=["empty_file", "top_level_list"])
def test_a_file_that_is_no_mapping(tmp_path, text, words):
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert words in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_scenario_file(tmp_path, capsys):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(InputError, match="file not found"):
        load_scenario(path)
    assert main(["sim", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"carefleet: error: {path}")


def test_a_ward_given_as_a_path_next_to_the_scenario(tmp_path, write_scenario):
    """``ward:`` may be a file beside the scenario; a broken one is reported as itself."""
    (tmp_path / "my_ward.yaml").write_text("name: [broken\n")
    path = write_scenario(("ward: demo_ward", "ward: my_ward.yaml"))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert "my_ward.yaml" in str(caught.value) and "\n" not in str(caught.value)


def test_an_impossible_date_is_an_input_error(write_scenario, capsys):
    path = write_scenario(("date: 2026-12-01", "date: 2026-13-01"))
    try:
        load_scenario(path)
    except InputError as error:
        assert str(path) in str(error)
    else:  # pragma: no cover - any other outcome is the bug
        pytest.fail("no InputError")
    assert main(["sim", str(path), "--quiet"]) == 2


def test_on_time_window_can_be_set(write_scenario):
    path = write_scenario(("seed: 3\n", "seed: 3\non_time_window: 45\n"))
    assert load_scenario(path).on_time_window == 45


def test_duplicate_schedule_name_points_at_the_duplicate(write_scenario):
    path = write_scenario(("room_105, room_106]}",
                           'room_105, room_106]}\n    - {name: breakfast, at: "08:30"}'))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.line == 20


SUBMIT = '  - {at: "08:10", kind: submit, id: errand, task: {kind: go_to, place: room_110}}\n'


def test_a_named_submission_can_be_cancelled_later(write_scenario, runner):
    path = write_scenario(("kind: fall, room: room_203}",
                           "kind: fall, room: room_203}\n" + SUBMIT.rstrip("\n") +
                           '\n  - {at: "08:10", kind: cancel, task: errand}'))
    result = runner(path).result
    (errand,) = [t for t in result.tasks if t["id"] == "errand"]
    assert errand["state"] == "cancelled" and "staff" in errand["reason"]


@pytest.mark.parametrize("extra, field, message", [
    (SUBMIT + SUBMIT, "events[2].id", "task id 'errand' is used twice"),
    ('  - {at: "08:10", kind: cancel, task: erand}\n', "events[1].task",
     "no earlier submit event has id 'erand'"),
])
def test_bad_task_ids_in_events(write_scenario, extra, field, message):
    path = write_scenario(("kind: fall, room: room_203}\n",
                           "kind: fall, room: room_203}\n" + extra))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert f"{field}: {message}" in str(caught.value)
