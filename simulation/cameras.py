"""Simulated ward cameras: what a camera sees is drawn, and the real fall detector judges it.

When a scenario puts a camera in a room, a resident's fall (or everyday movement) there
is rendered as synthetic footage (``carefleet.vision.synthetic``) and run through the
real ``Detector``; only what the detector reports reaches the orchestrator, when it
reports it. A fall the detector misses is not answered, and a false alarm sends a
robot, as they would on the ward. Rooms without a camera report falls directly (a
wearable's alarm).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from carefleet.vision.config import Zone, default_config
from carefleet.vision.detector import Detector
from carefleet.vision.events import EventKind
from carefleet.vision.synthetic import BED_ZONE, ONSET, SCENES, frames

#: Scenes a scenario may play in a room (``activity`` events); ``fall`` plays "fall".
ACTIVITIES = tuple(sorted(scene for scene in SCENES if scene != "fall"))


@dataclass(frozen=True, slots=True)
class Sighting:
    """The detector raised ``fall_detected``, ``delay`` seconds after the movement began."""

    delay: float
    confidence: float


def watch_scene(camera_id: str, scene: str, seed: int) -> Sighting | None:
    """Play ``scene`` to a fresh detector for ``camera_id``; its first fall alarm, if any.

    The room's bed is a bed zone in the camera's configuration, as a care home would set
    it up, so lying down on it is not a fall. The footage is drawn figures, so the
    detector's silhouette (OpenCV) path judges it: a pose model has no landmarks to find
    on a drawing, and it judges a scene about four times slower than the silhouette path.
    """
    bed = Zone(name="bed", kind="bed", polygon=tuple((x, y) for x, y in BED_ZONE))
    detector = Detector(replace(default_config(), camera_id=camera_id, zones=(bed,),
                                backend="opencv"))
    for frame, t in frames(SCENES[scene], seed=seed):
        for event in detector.process(camera_id, frame, t):
            if event.kind is EventKind.FALL_DETECTED:
                return Sighting(delay=max(t - ONSET[scene], 0.0), confidence=event.confidence)
    return None
