"""Simulated cameras: rendered footage judged by the real fall detector decides what the
orchestrator hears."""

from __future__ import annotations

import pytest

from carefleet.errors import InputError
from carefleet.simulation.cameras import ACTIVITIES, watch_scene
from carefleet.simulation.scenario import load_scenario

MORNING = ("kind: fall, room: room_203}", "kind: fall, room: room_203}\n"
           '  - {at: "08:30", kind: fall, room: room_110}')
CAMERA = ("schedules:", "cameras:\n  - {id: cam_203, room: room_203}\nschedules:")


def test_a_fall_is_seen_within_a_few_seconds_with_high_confidence() -> None:
    sighting = watch_scene("cam_1", "fall", seed=3)
    assert sighting is not None
    assert 0.0 < sighting.delay < 2.5 and sighting.confidence > 0.5


@pytest.mark.parametrize("scene", ["sit", "bend", "lie_on_bed"])
def test_everyday_movements_raise_no_alarm(scene: str) -> None:
    assert watch_scene("cam_1", scene, seed=3) is None


def test_a_fall_the_resident_gets_up_from_is_still_reported() -> None:
    assert watch_scene("cam_1", "fall_and_get_up", seed=3) is not None


def test_falls_reach_the_orchestrator_through_the_camera_or_the_wearable(
        write_scenario, runner) -> None:
    result = runner(write_scenario(MORNING, CAMERA)).result
    falls = {t["progress"]["room"]: t for t in result.tasks if t["kind"] == "fall_response"}
    assert falls["room_203"]["requested_by"] == "cam_203"       # seen by its camera
    assert falls["room_110"]["requested_by"] == "wearable"      # no camera in room_110
    seen = [h for h in result.happenings if h.kind == "camera"]
    assert [h.text for h in seen] == ["cam_203: fall detected (97%)"]
    fall_at = next(h.at for h in result.happenings if h.text == "fall in Room 203")
    assert 0.0 < seen[0].at - fall_at < 2.5                      # the detector's own delay


def test_lying_down_on_the_bed_sends_nobody(write_scenario, runner) -> None:
    path = write_scenario(CAMERA, ("kind: fall, room: room_203}",
                                   "kind: activity, room: room_203, scene: lie_on_bed}"))
    result = runner(path).result
    assert not [t for t in result.tasks if t["kind"] == "fall_response"]


@pytest.mark.parametrize("replacements, field, message", [
    ([CAMERA, ("kind: fall, room: room_203}", "kind: activity, room: room_110, scene: sit}")],
     "events[0].room", "room_110 has no camera, so an activity there has no effect"),
    ([CAMERA, ("kind: fall, room: room_203}", "kind: activity, room: room_203, scene: dance}")],
     "events[0].scene", "'dance' is not one of: " + ", ".join(ACTIVITIES)),
    ([("schedules:", "cameras:\n  - {id: c1, room: room_203}\n  - {id: c1, room: room_204}\n"
       "schedules:")], "cameras[1].id", "camera id 'c1' is used twice"),
    ([("schedules:", "cameras:\n  - {id: c1, room: room_203}\n  - {id: c2, room: room_203}\n"
       "schedules:")], "cameras[1].room", "room_203 already has camera 'c1'"),
    ([("schedules:", "cameras:\n  - {id: c1, room: room_999}\nschedules:")],
     "cameras[0].room", "unknown place 'room_999'"),
])
def test_camera_mistakes_are_one_located_line(write_scenario, replacements, field, message):
    with pytest.raises(InputError) as caught:
        load_scenario(write_scenario(*replacements))
    text = str(caught.value)
    assert f"{field}: {message}" in text and "\n" not in text
