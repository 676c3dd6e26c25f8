"""A per-camera body scale: how tall a standing person looks at each place in the view.

The fall thresholds are in "body heights" of the person's own upright posture. A
person who is never seen standing (in bed, seated from the first frame) has none, so
their movements cannot be measured in body heights: a roll off the bed onto the floor
has no height to fall from, and lying down from sitting reads as fast (the seated box
is taken for the whole body). The camera's scale stands in for it. It does not depend
on seeing *this* person stand; it comes from either or both of

- the camera's **mounting** (``mounting:`` in its configuration: lens height and tilt,
  the lens's field of view): a pinhole camera over a flat floor gives, for a person of
  ``person_height_m`` whose feet are at image row ``y``, the row of their head;
- **people walking through the view**: every steady, whole (not cut by the frame),
  upright box any track shows is a sample ``(feet row, height)``. In a fixed camera
  over a flat floor, the standing height is close to linear in the feet row (it is
  exactly ``k * (row - horizon)`` for a level camera), so a least-squares line through
  the samples gives it wherever people have walked, and a little beyond.

Where both exist, the learnt line wins (it measured real people of this ward); the
mounting covers the rows nobody has walked through yet.
"""

from __future__ import annotations

import math
from collections import deque

from carefleet.vision.config import Mounting

#: Samples kept (the most recent): at one per track per ``SAMPLE_EVERY_S`` this is
#: about 3 minutes of someone walking about.
MAX_SAMPLES = 400
SAMPLE_EVERY_S = 0.5
#: A line needs this many samples spread over at least ``MIN_SPREAD`` of the frame
#: height; with fewer, or all at one distance, the median height serves the rows near
#: where they were taken (``NEAR`` of the frame height either side).
MIN_SAMPLES, MIN_LINE_SAMPLES, MIN_SPREAD, NEAR = 6, 12, 0.15, 0.1
#: How far beyond the sampled rows the line is trusted (share of the frame height).
EXTRAPOLATE = 0.25


class BodyScale:
    """The standing height, in processing pixels, of a person whose feet are at a row."""

    def __init__(self, mounting: Mounting | None, frame_size: tuple[int, int]) -> None:
        self.mounting = mounting if mounting is not None and mounting.known else None
        self.width, self.height = frame_size
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)
        self._last_sample: dict[int, float] = {}
        self._fit: tuple[float, float, float, float] | None = None
        """(intercept, slope, lowest row, highest row) of the learnt line, or None."""
        self._dirty = False

    # -- learning -----------------------------------------------------------------
    def learn(self, box: tuple[int, int, int, int], t: float, track: int = 0) -> None:
        """A steady, upright box of someone standing (the caller checked both)."""
        x, y, w, h = box
        if y <= 1 or y + h >= self.height - 1:
            return  # cut by the frame: not the whole body
        if t - self._last_sample.get(track, -math.inf) < SAMPLE_EVERY_S:
            return
        self._last_sample[track] = t
        self._samples.append((float(y + h), float(h)))
        self._dirty = True

    @property
    def samples(self) -> int:
        return len(self._samples)

    # -- asking -------------------------------------------------------------------
    def standing_height(self, feet_row: float) -> float | None:
        """How tall a standing person with their feet at ``feet_row`` looks, or None when
        neither the mounting nor the people seen so far say."""
        learnt = self._learnt(feet_row)
        if learnt is not None:
            return learnt
        return self._mounted(feet_row)

    def _learnt(self, row: float) -> float | None:
        if len(self._samples) < MIN_SAMPLES:
            return None
        if self._dirty:
            self._fit = self._line()
            self._dirty = False
        if self._fit is not None:
            a, b, low, high = self._fit
            margin = EXTRAPOLATE * self.height
            if low - margin <= row <= high + margin:
                return max(1.0, a + b * row)
            return None
        rows = sorted(r for r, _ in self._samples)
        middle = rows[len(rows) // 2]
        if abs(row - middle) <= NEAR * self.height:
            heights = sorted(h for _, h in self._samples)
            return heights[len(heights) // 2]
        return None

    def _line(self) -> tuple[float, float, float, float] | None:
        rows = [r for r, _ in self._samples]
        low, high = min(rows), max(rows)
        if len(rows) < MIN_LINE_SAMPLES or high - low < MIN_SPREAD * self.height:
            return None
        n = len(rows)
        mean_r = sum(rows) / n
        mean_h = sum(h for _, h in self._samples) / n
        var = sum((r - mean_r) ** 2 for r in rows)
        slope = sum((r - mean_r) * (h - mean_h) for r, h in self._samples) / var
        if slope <= 0:
            return None  # nearer people (lower feet) must look taller; noise otherwise
        return mean_h - slope * mean_r, slope, low, high

    def _mounted(self, row: float) -> float | None:
        """Pinhole camera ``height_m`` over a flat floor, tilted down by ``tilt_deg``."""
        m = self.mounting
        if m is None or m.height_m is None or m.tilt_deg is None:
            return None
        focal = (self.height / 2) / math.tan(math.radians(m.vfov_deg) / 2)
        centre = self.height / 2
        tilt = math.radians(m.tilt_deg)
        depression = tilt + math.atan((row - centre) / focal)
        if depression <= math.radians(1.0):
            return None  # the feet at or above the horizon: no floor there
        distance = m.height_m / math.tan(depression)
        head = math.atan((m.height_m - m.person_height_m) / distance)
        head_row = centre + focal * math.tan(head - tilt)
        return max(1.0, row - head_row)
