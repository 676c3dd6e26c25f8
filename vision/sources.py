"""Frame sources around the core: video files, camera indexes and RTSP/HTTP URLs.

This is a runtime (DESIGN.md): it owns the ``cv2.VideoCapture`` handles and, for live
streams, the clock. Each failure is a ``SourceError`` naming the source, so one broken
camera is reported and dropped while the others keep running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from carefleet.errors import SourceError

#: Consecutive failed reads after which a live stream counts as dead (files just end).
LIVE_READ_RETRIES = 25
#: Used when a file does not say its frame rate.
FALLBACK_FPS = 25.0


@dataclass(slots=True)
class FrameSource:
    """One opened source. ``frames()`` yields ``(frame, t)`` with ``t`` in seconds.

    Files are timed by their frame index (so a clip is evaluated the same at any
    processing speed); live sources by the monotonic clock of this runtime.
    """

    name: str
    capture: cv2.VideoCapture
    live: bool
    fps: float
    frame_count: int
    clock: Callable[[], float] = field(default=time.monotonic)

    def frames(self, max_fps: float | None = None) -> Iterator[tuple[np.ndarray, float]]:
        """Frames in order; for files, those over ``max_fps`` are grabbed but not decoded."""
        step = max(1, round(self.fps / max_fps)) if (max_fps and not self.live) else 1
        index, failures, start = 0, 0, self.clock()
        try:
            while True:
                if index % step and not self.live:
                    if not self.capture.grab():
                        return
                    index += 1
                    continue
                ok, frame = self.capture.read()
                if not ok or frame is None or frame.size == 0:
                    if not self.live:
                        return
                    failures += 1
                    if failures >= LIVE_READ_RETRIES:
                        raise SourceError(f"{self.name}: stream stopped delivering frames")
                    continue
                failures = 0
                t = (self.clock() - start) if self.live else index / self.fps
                index += 1
                yield frame, t
        finally:
            self.capture.release()


def open_source(source: str | int) -> FrameSource:
    """Open a video file, a camera index (``"0"``) or a stream URL.

    A missing file, an unreadable stream or a file OpenCV cannot decode is a
    ``SourceError`` here, before any frame is processed.
    """
    name = str(source)
    live = isinstance(source, int) or name.isdigit() or "://" in name
    if not live and not Path(name).is_file():
        raise SourceError(f"{name}: no such video file")
    capture = cv2.VideoCapture(int(name) if name.isdigit() else name)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{name}: cannot open (not a video OpenCV can decode, "
                          f"or the camera/stream is unreachable)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if 1.0 <= fps <= 240.0 else FALLBACK_FPS
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if not live else 0
    if not live:
        ok, _ = capture.read()
        if not ok:
            capture.release()
            raise SourceError(f"{name}: no decodable frames (corrupt or empty video)")
        capture.release()  # reopen rather than seek: seeking is unreliable in some codecs
        capture = cv2.VideoCapture(name)
    return FrameSource(name=name, capture=capture, live=live, fps=fps, frame_count=max(count, 0))
