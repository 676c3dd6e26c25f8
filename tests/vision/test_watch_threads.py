"""A camera that stalls while reading must not hold up the others."""

from __future__ import annotations

import threading

from carefleet.vision.detector import Detector
from carefleet.vision.watch import watch

STEADY_FRAMES = 30


class _Stalled:
    """A live stream that hangs inside its first read until released (or gives up)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.gave_up = False

    def frames(self, max_fps=None):
        self.gave_up = not self.release.wait(timeout=20)
        return
        yield  # a generator that yields nothing


class _Steady:
    def __init__(self, frame) -> None:
        self.frame = frame

    def frames(self, max_fps=None):
        for i in range(STEADY_FRAMES):
            yield self.frame, i / 15.0


def test_a_stalled_camera_does_not_hold_up_the_others(clips):
    stalled = _Stalled()
    processed: list[str] = []
    detector = Detector()
    process = detector.process

    def counting(camera_id, frame, t):
        processed.append(camera_id)
        if len(processed) == STEADY_FRAMES:
            stalled.release.set()   # only now may the stalled camera come back
        return process(camera_id, frame, t)

    detector.process = counting  # type: ignore[method-assign]
    sources = {"stalled": stalled, "steady": _Steady(clips["sit"][0][0])}
    assert watch(sources, detector, on_event=lambda e: None, on_failure=lambda c, e: None) == 0
    assert processed == ["steady"] * STEADY_FRAMES
    assert not stalled.gave_up   # it was released by the steady camera's frames, not by its timeout
