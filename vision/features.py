"""Per-frame geometry of the person, in units of their own upright height.

A fall is a *change*: the head drops by a large part of the body's height, fast, and the
body ends low or lying. Measuring in "body heights" of the person's recent upright
posture makes the same thresholds work near and far from the camera and for any
resolution; measuring speed per second (not per frame) makes them work at any frame rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from carefleet.vision.config import FallSettings
from carefleet.vision.person import Observation, overlaps

#: Height/width above which a box is an upright body (standing or walking).
UPRIGHT_SHAPE = 1.3
#: Span over which the descent speed is measured: short enough to catch a 0.5 s
#: collapse, long enough (several frames at 15 fps) to average out silhouette jitter.
SPEED_SPAN_S = 0.4


@dataclass(frozen=True, slots=True)
class Features:
    """What the fall state machine sees in one frame."""

    t: float
    present: bool
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    reference_height: float = 0.0
    """The person's recent upright box height, in processing pixels."""
    height_ratio: float = 1.0
    """Box height over the upright height: ~1 standing, ~0.6 sitting, under 0.5 lying."""
    aspect: float = 0.0
    """Box width over height: under 1 upright, above 1 lying across the view."""
    area_ratio: float = 1.0
    """Box area over the upright box's area: ~1 for a whole body standing or lying."""
    angle: float = 90.0
    """Long axis of the silhouette from horizontal, degrees."""
    drop: float = 0.0
    """How far the top of the box fell within the descent window, in body heights."""
    drop_speed: float = 0.0
    """Fastest downward speed of the box top within the window, body heights per second."""
    motion: float = 0.0
    """Share of the person's pixels that moved since the previous frame."""


class FeatureTracker:
    """Turns a stream of observations from one camera into ``Features``."""

    def __init__(self, settings: FallSettings) -> None:
        self.settings = settings
        self._upright: deque[tuple[float, float, float]] = deque()
        self._tops: deque[tuple[float, float]] = deque()
        self._rates: deque[tuple[float, float]] = deque()
        self._heights: deque[float] = deque(maxlen=3)
        self._recent_tops: deque[float] = deque(maxlen=3)
        self._reference = 0.0
        self._reference_area = 0.0
        self._previous: tuple[int, int, int, int] | None = None

    def update(self, observation: Observation | None, t: float) -> Features:
        if observation is None:
            return Features(t=t, present=False)
        if self._tops and t - self._tops[-1][0] > self.settings.descent_window_s:
            self._new_track()  # a descent cannot be measured across a gap
        x, y, w, h = observation.box
        if self._previous is not None and not overlaps(self._previous, observation.box):
            self._new_track()
        self._previous = observation.box
        self._heights.append(h)
        self._recent_tops.append(y)
        steady = _median(self._heights)
        reference = self._reference_height(t, steady, w * h)
        drop, speed = self._descent(t, _median(self._recent_tops), reference)
        return Features(t=t, present=True, box=observation.box, reference_height=reference,
                        height_ratio=h / max(reference, h), aspect=w / max(h, 1),
                        area_ratio=w * h / max(self._reference_area, 1.0),
                        angle=observation.angle, drop=drop, drop_speed=speed,
                        motion=observation.motion)

    def _new_track(self) -> None:
        """Forget the geometry history: the box jumped to another blob (another person,
        a moved chair) or the person was out of sight. A jump between two blobs is not a
        descent, however far down the second one is."""
        for history in (self._upright, self._tops, self._rates, self._heights,
                        self._recent_tops):
            history.clear()
        self._reference = self._reference_area = 0.0

    def _reference_height(self, t: float, steady: float, area: float) -> float:
        """Tallest steady (median of 3) upright height in the window; kept while lying.

        Until an upright posture has been seen (a clip that starts with the person
        sitting), the tallest box at least as tall as wide stands in for it. A person
        seen only lying has no reference (0): their height is not a body height, so no
        descent is measured. The box area at that height is kept too, to tell a whole
        lying body from a part of one.
        """
        window = self.settings.reference_window_s
        if steady * steady >= UPRIGHT_SHAPE * area:  # height / width >= UPRIGHT_SHAPE
            self._upright.append((t, steady, area))
        while self._upright and self._upright[0][0] < t - window:
            self._upright.popleft()
        if self._upright:
            _, self._reference, self._reference_area = max(self._upright, key=lambda u: u[1])
        elif steady > self._reference and steady * steady >= area:  # at least as tall as wide
            self._reference, self._reference_area = steady, area
        return self._reference

    def _descent(self, t: float, top: float, reference: float) -> tuple[float, float]:
        """Drop of the box top from its highest point in the window, and its peak speed.

        ``top`` is the median of the last three box tops: a head that splits off the
        silhouette for one frame is not a drop.

        The speed is the fastest drop over any ``SPEED_SPAN_S`` in the window: a fall's
        slow start (losing balance) must not dilute the fast part (the collapse).
        """
        if reference <= 0:
            return 0.0, 0.0
        self._tops.append((t, top))
        while self._tops[0][0] < t - self.settings.descent_window_s:
            self._tops.popleft()
        earlier = [(te, y) for te, y in self._tops if te <= t - SPEED_SPAN_S]
        rate = (top - earlier[-1][1]) / (t - earlier[-1][0]) / reference if earlier else 0.0
        self._rates.append((t, max(rate, 0.0)))
        while self._rates[0][0] < t - self.settings.descent_window_s:
            self._rates.popleft()
        high = min(y for _, y in self._tops)
        drop = max(0.0, (top - high) / reference)
        return drop, max(r for _, r in self._rates)


def is_low(features: Features, settings: FallSettings) -> bool:
    """A whole body lying or collapsed: well under the upright height, or wider than tall.

    A box much smaller than the upright one is a part of the person (the only part that
    differs from a background learnt while they stood still), not a body on the floor.
    """
    return (features.area_ratio >= settings.min_body_area
            and (features.height_ratio <= settings.down_height_ratio
                 or features.aspect >= settings.lying_aspect))


def is_collapsed(features: Features, settings: FallSettings, head_drop: float) -> bool:
    """Fallen but not lying flat: the head stayed far below where it was before the
    descent (``head_drop`` body heights) and the body is still well under its height.

    This is the posture of a person slumped on the floor, or lying towards the camera,
    whose box is neither short nor wide enough for ``is_low``. Only meaningful right
    after a fast descent: a person sitting down keeps their head higher.
    """
    return (head_drop >= settings.collapsed_drop
            and features.height_ratio <= settings.collapsed_height_ratio
            and features.area_ratio >= settings.min_body_area)


def is_up(features: Features, settings: FallSettings) -> bool:
    """Standing again: back near the upright height and taller than wide."""
    return (features.height_ratio >= settings.recover_height_ratio
            and features.aspect < settings.lying_aspect)


def _median(values: deque[float]) -> float:
    return sorted(values)[len(values) // 2]
