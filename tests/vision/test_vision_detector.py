"""The whole pipeline on synthetic clips (the OpenCV path): which scenes raise which events."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from carefleet.errors import SourceError
from carefleet.vision.config import Zone, default_config
from carefleet.vision.detector import Detector
from carefleet.vision.events import EventKind
from carefleet.vision.fall_machine import FallState
from vision_clips import run
from vision_clips import BED_ZONE, HEIGHT, OPENCV, WIDTH


def kinds(events):
    return [e.kind for e in events]


def test_a_fall_is_detected_then_confirmed_after_inactivity(clips):
    events = run(Detector(OPENCV), clips["fall"])
    assert kinds(events) == [EventKind.FALL_DETECTED, EventKind.FALL_CONFIRMED]
    detected, confirmed = events
    assert 3.2 <= detected.t <= 4.5  # the fall ends at 3.2 s
    assert confirmed.t - detected.t >= default_config().fall.inactivity_s - 1.0
    assert detected.camera_id == "cam" and detected.confidence >= 0.5
    x, y, w, h = detected.box
    assert w > h and y + h > HEIGHT * 0.7  # a lying box, on the floor


def test_the_snapshot_is_a_silhouette_not_the_frame(clips):
    detected = run(Detector(OPENCV), clips["fall"])[0]
    image = cv2.imdecode(np.frombuffer(detected.snapshot, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.ndim == 2 and set(np.unique(image)) <= {0, 255}


def test_no_snapshot_when_configured_off(clips):
    detector = Detector(replace(OPENCV, snapshot="none"))
    assert run(detector, clips["fall"])[0].snapshot is None


def test_getting_up_after_a_fall_is_a_recovery(clips):
    detector = Detector(OPENCV)
    events = run(detector, clips["fall_and_get_up"])
    assert kinds(events) == [EventKind.FALL_DETECTED, EventKind.RECOVERED]
    assert detector.camera("cam").state is FallState.UPRIGHT


@pytest.mark.parametrize("scene", ["sit", "bend"])
def test_everyday_movements_raise_nothing(clips, scene):
    assert run(Detector(OPENCV), clips[scene]) == []


def test_lying_down_in_a_bed_zone_is_not_a_fall(clips):
    bed = Zone(name="bed 1", kind="bed", polygon=tuple(map(tuple, BED_ZONE)))
    with_bed = Detector(replace(OPENCV, zones=(bed,)))
    assert run(with_bed, clips["lie_on_bed"]) == []
    # the same scene without the zone is a fall: the zone is what makes the difference
    assert kinds(run(Detector(OPENCV), clips["lie_on_bed"]))[:1] == [EventKind.FALL_DETECTED]


def test_cameras_keep_separate_state(clips):
    detector = Detector(OPENCV)
    events = []
    for (fall, t), (sit, _) in zip(clips["fall"], clips["sit"]):
        events += detector.process("ward-a", fall, t)
        events += detector.process("ward-b", sit, t)
    assert {e.camera_id for e in events} == {"ward-a"}
    assert detector.camera("ward-b").state is FallState.UPRIGHT


def test_boxes_are_in_the_original_frame_pixels(clips):
    big = [(cv2.resize(f, (WIDTH * 2, HEIGHT * 2)), t) for f, t in clips["fall"]]
    small_box = run(Detector(OPENCV), clips["fall"])[0].box
    big_box = run(Detector(OPENCV), big)[0].box
    assert all(abs(b - 2 * s) <= 8 for b, s in zip(big_box, small_box))


def test_frames_over_the_processing_rate_are_skipped(clips):
    detector = Detector(replace(OPENCV, fps=5.0))
    processed = []
    for frame, t in clips["sit"][:31]:  # 2 s at 15 fps
        detector.process("cam", frame, t)
        processed.append(detector.camera("cam").last_t == t)
    assert sum(processed) == 11  # 0, 0.2, ... 2.0 s


@pytest.mark.parametrize("frame", [None, np.zeros((240, 320), np.uint8),
                                   np.zeros((240, 320, 3), np.float32),
                                   np.zeros((0, 0, 3), np.uint8)])
def test_a_corrupt_frame_is_the_sources_fault_and_changes_nothing(clips, frame):
    detector = Detector(OPENCV)
    good, t = clips["sit"][0]
    detector.process("cam", good, t)
    with pytest.raises(SourceError, match="camera cam: expected a BGR uint8 image"):
        detector.process("cam", frame, t + 0.1)
    assert detector.camera("cam").last_t == t


def test_time_going_backwards_is_refused(clips):
    detector = Detector(OPENCV)
    frame, _ = clips["sit"][0]
    detector.process("cam", frame, 5.0)
    with pytest.raises(SourceError, match="before the previous frame"):
        detector.process("cam", frame, 4.0)
