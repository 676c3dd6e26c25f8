"""Fixtures for the vision tests: synthetic clips (never the real footage in shared/)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from carefleet.vision.detector import Detector
from carefleet.vision.events import FallEvent
from vision_clips import SCENES, render

Clip = list[tuple[np.ndarray, float]]


@pytest.fixture(scope="session")
def clips() -> dict[str, Clip]:
    """Every synthetic scene, rendered once per test session."""
    return {name: render(poses) for name, poses in SCENES.items()}


def run(detector: Detector, clip: Clip, camera_id: str = "cam") -> list[FallEvent]:
    """Feed a whole clip to one camera of the detector; all the events it raised."""
    events: list[FallEvent] = []
    for frame, t in clip:
        events += detector.process(camera_id, frame, t)
    return events


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented text to a file in tmp_path and return its path."""
    def write(text: str, name: str = "camera.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write
