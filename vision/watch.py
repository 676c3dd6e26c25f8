"""The watch runtime: several sources round-robin into one detector, in one thread.

A source that fails (``SourceError`` while reading) is reported through ``on_failure``
and dropped; a corrupt frame the detector refuses is reported and skipped. Either way
the other cameras keep running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from carefleet.errors import SourceError
from carefleet.vision.detector import Detector
from carefleet.vision.events import FallEvent
from carefleet.vision.sources import FrameSource


def watch(sources: dict[str, FrameSource], detector: Detector, *,
          on_event: Callable[[FallEvent], None],
          on_failure: Callable[[str, SourceError], None]) -> int:
    """Run until every source has ended or failed; returns how many were dropped."""
    streams: dict[str, Iterator[tuple[np.ndarray, float]]] = {
        camera_id: source.frames(max_fps=detector.camera(camera_id).config.fps)
        for camera_id, source in sources.items()}
    failed = 0
    while streams:
        for camera_id in list(streams):
            try:
                frame, t = next(streams[camera_id])
            except StopIteration:
                del streams[camera_id]
                continue
            except SourceError as error:
                streams.pop(camera_id).close()
                failed += 1
                on_failure(camera_id, error)
                continue
            try:
                events = detector.process(camera_id, frame, t)
            except SourceError as error:
                on_failure(camera_id, error)
                continue
            for event in events:
                on_event(event)
    return failed
