"""Fall recognition: camera frames in, fall events out (see docs/vision.md).

``Detector.process(camera_id, frame, t)`` is the core (no I/O, no clock); sources, the
watch runtime, evaluation and the report are built around it.
"""

from carefleet.vision.config import CameraConfig, Zone, default_config, load_camera_config
from carefleet.vision.detector import Detector
from carefleet.vision.events import EventKind, FallEvent
from carefleet.vision.sources import FrameSource, open_source
from carefleet.vision.watch import watch

__all__ = ["CameraConfig", "Detector", "EventKind", "FallEvent", "FrameSource", "Zone",
           "default_config", "load_camera_config", "open_source", "watch"]
