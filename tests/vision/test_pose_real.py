"""The pose path with the real MediaPipe, on a simulated person (``mujoco_clips``).

Runs only where both mujoco and mediapipe are installed (the ``.venv-pose`` venv); the
OpenCV-path checks need mujoco only. The clips are physics, not choreography, and the
detector runs with the packaged default thresholds: nothing here is tuned to the clips.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.util import find_spec

import numpy as np
import pytest

if find_spec("mujoco") is None:  # not importorskip: mujoco_clips must import it first (GL)
    pytest.skip("needs mujoco (the pose venv)", allow_module_level=True)

import mujoco_clips  # noqa: E402
from carefleet.vision.config import default_config  # noqa: E402
from carefleet.vision.detector import Detector  # noqa: E402
from carefleet.vision.events import EventKind  # noqa: E402
from vision_clips import run  # noqa: E402

RELEASE = mujoco_clips.SCENES["stand_then_fall"].release


@pytest.fixture(scope="module")
def sim_clips() -> dict[str, list[tuple[np.ndarray, float]]]:
    """Every MuJoCo scene, rendered once for this module (about 1 s each)."""
    return {name: mujoco_clips.render(scene) for name, scene in mujoco_clips.SCENES.items()}


@pytest.fixture
def mediapipe():
    return pytest.importorskip("mediapipe")


def detector(backend: str) -> Detector:
    return Detector(replace(default_config(), backend=backend))


def test_the_simulated_fall_is_a_physical_one():
    """Standing still until the release, then the head reaches the floor in about 1 s."""
    heads = mujoco_clips.head_heights(mujoco_clips.SCENES["stand_then_fall"])
    before = [z for t, z in heads if t < RELEASE]
    assert max(before) - min(before) < 1e-9 and 1.55 < before[0] < 1.7
    landed = next(t for t, z in heads if z < 0.3)
    assert 0.7 < landed - RELEASE < 1.6
    speeds = [abs(z1 - z0) * mujoco_clips.FPS for (_, z0), (_, z1) in zip(heads, heads[1:])]
    assert max(speeds) < 7.0  # no faster than a rigid 1.7 m body toppling onto the floor
    assert all(z < 0.45 for t, z in heads if t > landed)  # stays down


def test_clips_are_deterministic(sim_clips):
    again = mujoco_clips.render(mujoco_clips.SCENES["stand_then_fall"])
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(again, sim_clips["stand_then_fall"]))


def test_mediapipe_finds_the_standing_person(mediapipe, sim_clips):
    frames = [frame for frame, t in sim_clips["stand_still"][:15]]
    with mediapipe.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for frame in frames:
            result = pose.process(np.ascontiguousarray(frame[:, :, ::-1]))
            assert result.pose_landmarks is not None
            marks = result.pose_landmarks.landmark
            assert min(marks[i].visibility for i in (11, 12, 23, 24)) > 0.5  # shoulders, hips
            assert marks[0].y < marks[23].y < marks[27].y  # nose above hips above ankles


class _Watched:
    """The real pose backend, noting which frames its landmarks found the person."""

    def __init__(self, backend) -> None:
        self.backend, self.found = backend, []

    def observe(self, frame, t):
        observation = self.backend.observe(frame, t)
        self.found.append(observation)
        return observation


def run_pose(clip) -> tuple[list, Detector, _Watched]:
    det = detector("pose")
    camera = det.camera("cam")
    assert camera.pose
    watched = camera.backend = _Watched(camera.backend)
    events = []
    for frame, t in clip:
        events += det.process("cam", frame, t)
        # the fall machine saw the landmarks, not the silhouette fallback
        assert camera.observation is watched.found[-1] is not None, f"landmarks lost at {t}"
    return events, det, watched


def test_real_pose_backend_detects_the_fall(mediapipe, sim_clips):
    events, _, _ = run_pose(sim_clips["stand_then_fall"])
    assert [e.kind for e in events] == [EventKind.FALL_DETECTED]
    assert RELEASE < events[0].t < RELEASE + 2.5
    x, y, w, h = events[0].box
    assert w > h and y + h > 0.7 * mujoco_clips.HEIGHT  # lying across the floor


def test_real_pose_backend_raises_nothing_for_a_person_standing_still(mediapipe, sim_clips):
    events, det, _ = run_pose(sim_clips["stand_still"])
    assert events == []
    assert det.camera("cam").features.present


@pytest.mark.parametrize("name, kinds", [
    ("stand_then_fall", [EventKind.FALL_DETECTED]),
    ("stand_still", []),
])
def test_opencv_path_on_the_simulated_clips(sim_clips, name, kinds):
    events = run(detector("opencv"), sim_clips[name])
    assert [e.kind for e in events] == kinds
    if kinds:
        assert RELEASE < events[0].t < RELEASE + 2.5


# -- the stress set's cases for footage from unseen rooms (classes 1, 3 and 5) ------------

#: A camera high on the wall in front of the person, looking down (class 1).
HIGH = mujoco_clips.Camera(distance=3.5, height=2.6, look_z=0.5)
FRONT = mujoco_clips.Camera()


def test_rolling_off_the_bed_starts_lying_and_ends_on_the_floor():
    """Never seen standing: lying on the mattress until the release, then physics."""
    heads = mujoco_clips.head_heights(mujoco_clips.Scene(7.0, 2.0, fall="roll_off_bed",
                                                         camera=HIGH))
    before = [z for t, z in heads if t < 2.0]
    assert max(before) - min(before) < 1e-9 and 0.4 < before[0] < 0.8  # on the mattress
    assert all(z < 0.3 for t, z in heads if t > 3.5)  # on the floor, and stays there


def test_a_visitor_changes_nothing_in_the_physics_of_the_fall():
    """The visitor is posed, never simulated, and collides with nothing: the same fall, to
    within the rounding that the contacts of a landing body amplify (under 2 cm)."""
    alone = mujoco_clips.head_heights(mujoco_clips.Scene(5.0, 2.0, camera=FRONT))
    passer_by = mujoco_clips.Visitor("walk", x=3.0, y=1.3, to=-3.5, start=1.0)
    with_visitor = mujoco_clips.head_heights(
        mujoco_clips.Scene(5.0, 2.0, camera=FRONT, visitor=passer_by))
    assert [t for t, _ in alone] == [t for t, _ in with_visitor]
    assert np.allclose([z for _, z in alone], [z for _, z in with_visitor], atol=0.02)


def test_the_bed_zone_is_the_mattress_as_the_camera_sees_it():
    scene = mujoco_clips.Scene(7.0, 2.0, fall="roll_off_bed", camera=HIGH)
    polygon = mujoco_clips.zone_polygon(scene, mujoco_clips.BED)
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    assert 0 < min(xs) < max(xs) < 1 and 0 < min(ys) < max(ys) < 1
    assert max(ys) - min(ys) < 0.3  # seen from above and in front: a flat quadrilateral


def fall_along_the_line_of_sight() -> list[tuple[np.ndarray, float]]:
    return mujoco_clips.render(mujoco_clips.Scene(7.0, 2.0, direction="forward", camera=HIGH))


def test_pose_path_catches_a_fall_towards_a_high_camera(mediapipe):
    """Class 1: the body lying towards the camera is a tall, narrow strip whose top is
    where the feet were; the landmarks stay with the falling person throughout."""
    events = run(detector("pose"), fall_along_the_line_of_sight())
    assert [e.kind for e in events] == [EventKind.FALL_DETECTED]
    assert 2.0 < events[0].t < 2.0 + 2.5


@pytest.mark.parametrize("backend", ["opencv", "pose"])
def test_a_seated_visitor_neither_raises_nor_masks_a_fall(backend):
    """Class 5: a visitor seated beside the person from the first frame."""
    if backend == "pose":
        pytest.importorskip("mediapipe")
    visitor = mujoco_clips.Visitor("seated", x=0.9, y=0.45)
    still = mujoco_clips.render(mujoco_clips.Scene(7.0, camera=FRONT, visitor=visitor))
    assert run(detector(backend), still) == []
    fall = mujoco_clips.render(mujoco_clips.Scene(7.0, 2.0, camera=FRONT, visitor=visitor))
    events = run(detector(backend), fall)
    assert [e.kind for e in events] == [EventKind.FALL_DETECTED]
    assert 2.0 < events[0].t < 2.0 + 2.5
