"""Test helpers over ``carefleet.vision.synthetic``: the clips, and writing them as real videos."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from carefleet.vision.detector import Detector
from carefleet.vision.events import FallEvent
from carefleet.vision.synthetic import BED_ZONE, FPS, HEIGHT, SCENES, WIDTH, render

__all__ = ["BED_ZONE", "FPS", "HEIGHT", "SCENES", "WIDTH", "Clip", "render", "run",
           "write_video"]

Clip = list[tuple[np.ndarray, float]]


def run(detector: Detector, clip: Iterable[tuple[np.ndarray, float]],
        camera_id: str = "cam") -> list[FallEvent]:
    """Feed a whole clip to one camera of the detector; all the events it raised.

    (Test modules import helpers from here, never from ``conftest``: several test
    folders have a conftest, and which one ``import conftest`` finds depends on order.)
    """
    events: list[FallEvent] = []
    for frame, t in clip:
        events += detector.process(camera_id, frame, t)
    return events


def write_video(path: Path, frames: list[tuple[np.ndarray, float]]) -> Path:
    """Write frames as a real video file (MJPG in AVI: in every OpenCV build)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for frame, _ in frames:
        writer.write(frame)
    writer.release()
    return path
