"""The watch runtime: one reader thread per source, one detector, events in arrival order.

Reading is where cameras misbehave: an RTSP stream can stall inside
``VideoCapture.read`` for seconds. Each source therefore gets its own reader thread
feeding a shared, bounded inbox, and the detector (which keeps per-camera state and
is not thread-safe) runs only in the calling thread. A stalled camera delays nobody;
a source that fails (``SourceError`` while reading: a stream that stops delivering, a
file that ends early) is reported through ``on_failure`` and dropped; a corrupt frame
the detector refuses is reported and skipped (frames a source cannot decode at all it
skips itself, and counts in its ``skipped``). Either way the other cameras keep running.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from carefleet.errors import SourceError
from carefleet.vision.detector import Detector
from carefleet.vision.events import FallEvent

#: Frames each camera may have waiting; a full inbox makes file readers wait (nothing
#: is lost) while the detector catches up.
FRAMES_IN_FLIGHT = 4


class _Delivery(NamedTuple):
    camera_id: str
    frame: np.ndarray | None = None
    t: float = 0.0
    error: SourceError | None = None
    ended: bool = False


def watch(sources: dict[str, Any], detector: Detector, *,
          on_event: Callable[[FallEvent], None],
          on_failure: Callable[[str, SourceError], None]) -> int:
    """Run until every source has ended or failed; returns how many were dropped.

    ``sources`` maps camera ids to objects with ``frames(max_fps)`` (``FrameSource``).
    """
    inbox: queue.Queue[_Delivery] = queue.Queue(maxsize=FRAMES_IN_FLIGHT * max(len(sources), 1))
    for camera_id, source in sources.items():
        fps = detector.camera(camera_id).config.fps
        threading.Thread(target=_read, args=(camera_id, source, fps, inbox), daemon=True,
                         name=f"camera {camera_id}").start()
    running, failed = len(sources), 0
    while running:
        delivery = inbox.get()
        if delivery.ended:
            running -= 1
        elif delivery.error is not None:
            failed += 1
            on_failure(delivery.camera_id, delivery.error)
        else:
            try:
                events = detector.process(delivery.camera_id, delivery.frame, delivery.t)
            except SourceError as error:
                on_failure(delivery.camera_id, error)
                continue
            for event in events:
                on_event(event)
    return failed


def _read(camera_id: str, source: Any, fps: float, inbox: queue.Queue[_Delivery]) -> None:
    """Reader thread: every frame of one source into the inbox, then an end marker."""
    try:
        for frame, t in source.frames(max_fps=fps):
            inbox.put(_Delivery(camera_id, frame, t))
    except SourceError as error:
        inbox.put(_Delivery(camera_id, error=error))
    finally:
        inbox.put(_Delivery(camera_id, ended=True))
