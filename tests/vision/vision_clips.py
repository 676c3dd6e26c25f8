"""Test helpers over ``carefleet.vision.synthetic``: the clips, and writing them as real videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from carefleet.vision.synthetic import BED_ZONE, FPS, HEIGHT, SCENES, WIDTH, render

__all__ = ["BED_ZONE", "FPS", "HEIGHT", "SCENES", "WIDTH", "render", "write_video"]


def write_video(path: Path, frames: list[tuple[np.ndarray, float]]) -> Path:
    """Write frames as a real video file (MJPG in AVI: in every OpenCV build)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for frame, _ in frames:
        writer.write(frame)
    writer.release()
    return path
