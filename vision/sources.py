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

#: Consecutive failed reads after which a live stream counts as dead.
LIVE_READ_RETRIES = 25
#: Consecutive undecodable frames after which a file counts as ended (a corrupt packet
#: is one frame: the next one decodes again; a file cut short never does).
FILE_READ_RETRIES = 25
#: Used when a file does not say its frame rate.
FALLBACK_FPS = 25.0


def count_slack(frame_count: int) -> int:
    """Frames a file may fall short of its header's count before it counts as cut short
    (some containers only estimate the count)."""
    return max(2, frame_count // 200)


@dataclass(slots=True)
class FrameSource:
    """One opened source. ``frames()`` yields ``(frame, t)`` with ``t`` in seconds.

    Files are timed by their frame index (so a clip is evaluated the same at any
    processing speed); live sources by the monotonic clock of this runtime. A frame
    that cannot be decoded (a corrupt packet) is skipped and counted in ``skipped``; a
    file keeps its timing across it. A file that stops decoding well before the frame
    count in its header (truncated, or corrupt from there on) raises ``SourceError``
    once its readable frames are out, as does a live stream that stops delivering.
    """

    name: str
    capture: cv2.VideoCapture
    live: bool
    fps: float
    frame_count: int
    clock: Callable[[], float] = field(default=time.monotonic)
    skipped: int = 0
    """Frames skipped so far because they could not be read or decoded."""
    reached: int = 0
    """For a file: frames gone through so far (decoded, grabbed past or skipped)."""

    def frames(self, max_fps: float | None = None) -> Iterator[tuple[np.ndarray, float]]:
        """Frames in order; for files, those over ``max_fps`` are grabbed but not decoded."""
        step = max(1, round(self.fps / max_fps)) if (max_fps and not self.live) else 1
        index, failures, start = 0, 0, self.clock()
        try:
            while True:
                if index % step and not self.live:
                    ok, frame = self.capture.grab(), None
                else:
                    ok, frame = self.capture.read()
                    ok = ok and frame is not None and frame.size > 0
                if not ok:
                    failures += 1
                    if self.live:
                        if failures >= LIVE_READ_RETRIES:
                            raise SourceError(f"{self.name}: stream stopped delivering frames")
                        continue
                    index += 1   # an undecodable frame of a file still takes its time
                    if failures >= FILE_READ_RETRIES or 0 < self.frame_count <= index:
                        self.reached = index - failures   # trailing failures: the end
                        self._check_complete()
                        return
                    continue
                self.skipped += failures
                failures = 0
                self.reached = index + 1
                if frame is not None:
                    t = (self.clock() - start) if self.live else index / self.fps
                    yield frame, t
                index += 1
        finally:
            self.capture.release()

    def _check_complete(self) -> None:
        """A file whose frames ran out at ``reached``: was that (about) all of them?"""
        if self.frame_count and self.frame_count - self.reached > count_slack(self.frame_count):
            raise SourceError(f"{self.name}: ended early after {self.reached} of "
                              f"{self.frame_count} frames (the file is truncated or corrupt)")


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
