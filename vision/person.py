"""Finding the person on the OpenCV path: a background model that never learns the person.

Three masks, at processing resolution:

- *foreground*: where the frame differs from the background model;
- *recent motion*: where a pixel changed between frames within ``recent_motion_s``;
- *person*: the foreground that is moving now, or that was the person when they stopped.

The background model is a running average with a selective update: the room is relearnt
(``background_time_s``) everywhere except under the person. That is what keeps a person
who lies still after a fall from fading into the background, and what clears the
"ghost" a person leaves where they stood in the first frame (clips and live streams
start with the person already in view): a ghost is foreground that does not move, so it
is not the person and is learnt away like any other change to the room.

While the whole body moves (walking, falling) the person is exactly the recently moving
foreground; that drops the ghost trail within ``recent_motion_s``. While only part of it
moves (an arm, breathing) the person is the previous silhouette grown by the moving part,
so a still body is held rather than shrunk to the arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from carefleet.vision.config import PersonSettings

#: Share of the held silhouette that must be moving for the body to count as moving as a
#: whole (walking, falling); below it only a part moves and the silhouette is kept.
WHOLE_BODY_MOVING = 0.5

#: How much a moving blob at the person's last place is preferred over a bigger one
#: elsewhere (another resident, a carer walking past): stay with the person we follow.
ANCHOR_PREFERENCE = 3.0

_SMALL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_BODY = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


@dataclass(frozen=True, slots=True)
class Observation:
    """The person in one frame, at processing resolution, from either backend."""

    box: tuple[int, int, int, int]
    """``(x, y, w, h)`` around the person."""
    motion: float
    """Share of the person's pixels that changed since the previous frame (0..1)."""
    angle: float
    """The body's long axis from horizontal in degrees: 90 upright, 0 lying."""
    mask: np.ndarray | None = None
    """The silhouette (uint8 0/255), for privacy-safe snapshots; None if not available."""


def silhouette_geometry(mask: np.ndarray) -> tuple[tuple[int, int, int, int], float] | None:
    """Box and long-axis angle of a binary mask (image moments), or None if empty."""
    moments = cv2.moments(mask, binaryImage=True)
    if moments["m00"] <= 0:
        return None
    x, y, w, h = cv2.boundingRect(mask)
    angle = 0.5 * math.degrees(math.atan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"]))
    return (x, y, w, h), abs(angle) if abs(angle) <= 90 else 180 - abs(angle)


class PersonFinder:
    """Background/motion model for one camera; feed it grey frames in time order."""

    def __init__(self, settings: PersonSettings) -> None:
        self.settings = settings
        self._background: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._last_motion: np.ndarray | None = None
        self._anchor: np.ndarray | None = None
        self._person_mask: np.ndarray | None = None
        self._previous_t = 0.0
        self._seen_t = 0.0
        self.foreground: np.ndarray | None = None
        """The last foreground mask (kept for the report's silhouette thumbnails)."""

    def observe(self, grey: np.ndarray, t: float) -> Observation | None:
        """The person in this frame, or None when nobody is moving or held."""
        if self._background is None or grey.shape != self._background.shape:
            self._start(grey, t)
            return None
        s = self.settings
        moved = cv2.absdiff(grey, self._previous) > s.motion_threshold
        self._last_motion[moved] = t
        foreground = cv2.absdiff(grey, cv2.convertScaleAbs(self._background)) > s.foreground_threshold
        foreground = cv2.morphologyEx(foreground.view(np.uint8) * 255, cv2.MORPH_OPEN, _SMALL)
        recent = ((t - self._last_motion) <= s.recent_motion_s).view(np.uint8) * 255
        live = self._largest_blobs(cv2.morphologyEx(
            cv2.bitwise_and(foreground, cv2.dilate(recent, _SMALL)), cv2.MORPH_CLOSE, _BODY))
        person = self._person(foreground, live, t)
        self._learn(grey, person, t)
        self._previous, self._previous_t = grey, t
        self.foreground = foreground
        if person is None:
            return None
        geometry = silhouette_geometry(person)
        if geometry is None:
            return None
        box, angle = geometry
        area = max(1, cv2.countNonZero(person))
        motion = cv2.countNonZero(cv2.bitwise_and(person, moved.view(np.uint8) * 255)) / area
        return Observation(box=box, motion=motion, angle=angle, mask=person)

    def _start(self, grey: np.ndarray, t: float) -> None:
        self._background = grey.astype(np.float32)
        self._previous, self._previous_t = grey, t
        self._last_motion = np.full(grey.shape, -math.inf, np.float32)
        self._anchor = self._person_mask = None
        self._seen_t = t

    def _largest_blobs(self, mask: np.ndarray) -> np.ndarray | None:
        """The biggest blob plus any others overlapping its surroundings (split limbs)."""
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = self.settings.min_area * mask.size
        big = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
        if not big:
            return None
        near = self._anchor_box()
        main = max(big, key=lambda i: stats[i, cv2.CC_STAT_AREA]
                   * (ANCHOR_PREFERENCE if near and overlaps(stats[i, :4], near) else 1))
        x, y, w, h = stats[main, :4]
        keep = [i for i in big if overlaps(stats[i, :4], (x - w // 2, y - h // 4, 2 * w, 3 * h // 2))]
        return np.isin(labels, keep).view(np.uint8) * 255

    def _anchor_box(self) -> tuple[int, int, int, int] | None:
        return cv2.boundingRect(self._anchor) if self._anchor is not None else None

    def _person(self, foreground: np.ndarray, live: np.ndarray | None,
                t: float) -> np.ndarray | None:
        """Whole-body motion replaces the silhouette; partial motion grows it.

        The held silhouette is the foreground inside a fixed *anchor* (the last
        whole-body silhouette, dilated once, plus any part that moved since). It never
        grows by itself: growing into adjacent foreground every frame would flood into
        the ghost a person leaves where they stood in the first frame. With no
        foreground left under the anchor the last silhouette is kept for
        ``lost_after_s`` (a flicker, a lighting change) before the person counts as gone.
        """
        held = None
        if self._anchor is not None:
            held = cv2.bitwise_and(foreground, self._anchor)
            if cv2.countNonZero(held) < self.settings.min_area * held.size:
                held = None
        if live is not None and (held is None or cv2.countNonZero(live)
                                 >= WHOLE_BODY_MOVING * cv2.countNonZero(held)):
            self._anchor, self._person_mask, self._seen_t = cv2.dilate(live, _BODY), live, t
        elif held is not None:
            if live is not None:
                self._anchor = cv2.bitwise_or(self._anchor, cv2.dilate(live, _BODY))
                held = cv2.bitwise_or(held, live)
            self._person_mask, self._seen_t = held, t
        elif t - self._seen_t > self.settings.lost_after_s:
            self._anchor = self._person_mask = None
        return self._person_mask

    def _learn(self, grey: np.ndarray, person: np.ndarray | None, t: float) -> None:
        """Relearn the room everywhere except under (and just around) the person."""
        dt = max(t - self._previous_t, 1e-3)
        rate = min(1.0, dt / self.settings.background_time_s)
        if person is None:
            cv2.accumulateWeighted(grey, self._background, rate)
            return
        room = cv2.bitwise_not(cv2.dilate(person, _BODY, iterations=2))
        cv2.accumulateWeighted(grey, self._background, rate, mask=room)


def overlaps(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two ``(x, y, w, h)`` boxes share any area."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
