"""The pose path without mediapipe: its own thresholds, and the fusion with silhouettes.

A fake pose backend stands in for MediaPipe (which finds nobody in the drawn figures
anyway); what is tested is what the detector does with its findings.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from carefleet.vision import pose
from carefleet.vision.config import default_config
from carefleet.vision.detector import Detector, fuse
from carefleet.vision.events import EventKind
from carefleet.vision.person import Observation
from vision_clips import run
from vision_clips import HEIGHT, WIDTH


def seen(box):
    return Observation(box=box, motion=0.0, angle=90.0)


@pytest.mark.parametrize("landmarks, silhouette, believed", [
    (seen((100, 50, 30, 120)), seen((95, 45, 40, 130)), "pose"),         # the same person
    (None, seen((95, 45, 40, 130)), "silhouette"),                        # landmarks lost
    (seen((270, 70, 45, 80)), seen((70, 100, 130, 130)), "silhouette"),   # phantom skeleton
    (seen((100, 50, 30, 120)), None, "pose"),                             # person standing still
    (None, None, "pose"),                                                 # nobody
])
def test_fusion_believes_landmarks_unless_they_lost_the_moving_person(landmarks, silhouette,
                                                                      believed):
    assert fuse(landmarks, silhouette) == believed


class _FakePose:
    """Stands in for MediaPipe: always the same finding (``None``: nobody found)."""

    box: tuple[int, int, int, int] | None = None

    def observe(self, frame, t):
        return None if self.box is None else seen(self.box)


class _StandingPose(_FakePose):
    box = (0, 0, WIDTH - 1, HEIGHT - 1)  # an upright person over the whole view


@pytest.fixture
def fake_pose(monkeypatch):
    def install(backend: type) -> Detector:
        monkeypatch.setattr(pose, "available", lambda: True)
        monkeypatch.setattr(pose, "PoseBackend", backend)
        return Detector(replace(default_config(), backend="pose"))
    return install


def test_the_pose_path_uses_its_own_thresholds(fake_pose):
    camera = fake_pose(_FakePose).camera("cam")
    assert camera.pose and camera.fall == default_config().pose_fall
    assert camera.fall.min_descent_speed != default_config().fall.min_descent_speed


def test_where_the_landmarks_lose_the_person_the_silhouette_still_sees_the_fall(fake_pose,
                                                                                 clips):
    events = run(fake_pose(_FakePose), clips["fall"])
    assert [e.kind for e in events][:1] == [EventKind.FALL_DETECTED]


def test_a_standing_person_seen_by_pose_vetoes_the_silhouette(fake_pose, clips):
    assert run(fake_pose(_StandingPose), clips["fall"]) == []


class _SomeoneElse(_FakePose):
    box = (5, 5, 30, 90)  # an upright person in the corner, where the silhouettes see nobody


def test_landmarks_on_someone_else_leave_the_falling_persons_silhouette_alone(fake_pose, clips):
    """MediaPipe follows one person; a fall by another is seen by the silhouettes, with
    that person's own fall state."""
    det = fake_pose(_SomeoneElse)
    events = run(det, clips["fall"])
    assert [e.kind for e in events][:1] == [EventKind.FALL_DETECTED]
    people = det.camera("cam").people
    assert events[0].person != 0 and people[0].features.box == _SomeoneElse.box
    assert people[0].machine.state.value == "upright"


def test_the_default_is_the_pose_path_where_mediapipe_is_installed(monkeypatch):
    assert default_config().backend == "auto"
    monkeypatch.setattr(pose, "available", lambda: True)
    monkeypatch.setattr(pose, "PoseBackend", _FakePose)
    assert Detector().camera("cam").pose


def test_the_default_falls_back_to_opencv_alone_where_mediapipe_is_missing(monkeypatch):
    monkeypatch.setattr(pose, "available", lambda: False)
    camera = Detector().camera("cam")
    assert not camera.pose and camera.fall == default_config().fall


def test_a_mediapipe_that_cannot_load_is_opencv_by_default_and_an_error_when_asked(monkeypatch):
    from carefleet.errors import InputError

    class _Broken:
        def __init__(self, *args, **kwargs):
            raise ImportError("No module named 'google.protobuf'")

    monkeypatch.setattr(pose, "available", lambda: True)
    monkeypatch.setattr(pose, "PoseBackend", _Broken)
    assert not Detector().camera("cam").pose
    with pytest.raises(InputError, match="cannot load mediapipe: No module named"):
        Detector(replace(default_config(), backend="pose")).camera("cam")
