"""What the fall-recognition core tells the orchestrator.

Events are frozen, slotted, keyword-only dataclasses that validate themselves (as in
h11's ``_events.py``): a malformed event is a bug in the detector, so it fails loudly
where it is made rather than inside the orchestrator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

Box = tuple[int, int, int, int]
"""A person's box ``(x, y, w, h)`` in the pixels of the camera's original frame."""


class EventKind(str, Enum):
    """The three things a camera can say about a fall."""

    FALL_DETECTED = "fall_detected"
    """A fast descent ended in a lying posture: dispatch a robot now."""
    FALL_CONFIRMED = "fall_confirmed"
    """The fallen person has stayed down and still for the configured inactivity time."""
    RECOVERED = "recovered"
    """The person got back up after a detected fall: the response may be stood down."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FallEvent:
    """One event from one camera at the frame time ``t`` (seconds, the source's clock).

    ``snapshot`` is never a raw frame: it is a silhouette (binary mask) PNG, so an
    event can be logged or shown to staff without exposing the resident.
    """

    camera_id: str
    kind: EventKind
    t: float
    confidence: float
    box: Box
    snapshot: bytes | None = None
    person: int = 0
    """Which person of this camera it is about (its track number): with several people in
    view each has their own fall state, and a ``recovered`` names the one who got up."""

    def __post_init__(self) -> None:
        if not self.camera_id:
            raise ValueError("FallEvent.camera_id must not be empty")
        if not isinstance(self.kind, EventKind):
            raise ValueError(f"FallEvent.kind must be an EventKind, got {self.kind!r}")
        if not math.isfinite(self.t):
            raise ValueError(f"FallEvent.t must be finite, got {self.t}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"FallEvent.confidence must be in [0, 1], got {self.confidence}")
        if len(self.box) != 4 or self.box[2] < 0 or self.box[3] < 0:
            raise ValueError(f"FallEvent.box must be (x, y, w, h) with w, h >= 0, got {self.box}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the snapshot is summarised by its size, not embedded."""
        return {
            "camera_id": self.camera_id,
            "kind": self.kind.value,
            "t": round(self.t, 3),
            "confidence": round(self.confidence, 3),
            "box": list(self.box),
            "snapshot_bytes": len(self.snapshot) if self.snapshot else 0,
            "person": self.person,
        }
