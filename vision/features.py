"""Per-frame geometry of one person, in units of their own upright height.

A fall is a *change*: the head drops by a large part of the body's height, fast, and the
body ends low or lying. Measuring in "body heights" of the person's recent upright
posture makes the same thresholds work near and far from the camera and for any
resolution; measuring speed per second (not per frame) makes them work at any frame rate.

Where that height comes from (``Features.reference_kind``):

- ``stood``: the tallest *steady* upright box of this person in the last few seconds
  (the last three box heights agree within ``steady_tolerance`` and all or none of
  those boxes touch the bottom edge of the view: never a motion-blurred first box, or
  one the background has half absorbed), and never a box cut by the bottom edge once
  one was seen whole (a cut box is part of a body, or one merged with what a fall
  moved at its feet);
- ``scale``: the camera's body scale at the person's feet (``scale.py``: from the
  camera's mounting or learnt from people walking through), for a person never seen
  standing (in bed, seated from the start);
- ``guess``: neither: the tallest box at least as tall as wide stands in for it;
- ``""``: nothing yet (a person seen only lying): no descent is measured.

Track breaks are not movements. A box that jumps to a place that does not overlap the
previous one (another person, a track switch), or whose area halves or doubles from
one frame to the next while an edge jumps and the person is not moving as a whole (the
background absorbed part of a person standing still, a blob joined or left) or its top
moves faster than a body can (``MAX_TOP_SPEED``), starts a new geometry history: a jump
is not a descent, however far down the new box is.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from carefleet.vision.config import FallSettings
from carefleet.vision.person import Observation, overlaps
from carefleet.vision.scale import BodyScale

#: Height/width above which a box is an upright body (standing or walking).
UPRIGHT_SHAPE = 1.3
#: Span over which the descent speed is measured: short enough to catch a 0.5 s
#: collapse, long enough (several frames at 15 fps) to average out silhouette jitter.
SPEED_SPAN_S = 0.4
#: Frames whose heights must agree for a box to be steady (see ``steady_tolerance``).
STEADY_FRAMES = 3
#: Height/width from which a box is surely a person standing (adults 2.5-4 whatever their
#: side to the camera; a person seated facing the camera 1.4-2): the body scale learns
#: from steady boxes this tall ...
STANDING_SHAPE = 2.2
#: ... while walking (this share of its pixels moving): a box held still is no sample.
WALKING_MOTION = 0.1
#: A steady upright reference under this share of the camera's standing height at that
#: place is not a standing body (someone seated facing the camera): the scale replaces it.
SEATED_BELOW = 0.8
#: Width over height of a standing body's box (arms down; 0.25-0.45 seen from any side):
#: the area a person standing at the camera's scale would cover.
STANDING_WIDTH = 0.3
#: Share of the box's pixels moving above which a jump of the box is the body moving
#: (the last frames of a fall are fast: a toppling body's head reaches 2-4 body heights
#: a second), not a lost track: a person the background absorbs is one standing still.
BODY_IN_MOTION = 0.3
#: ... unless the top of the box moved faster than any body can (body heights a second):
#: the head of a body toppling rigidly onto the floor reaches sqrt(3 g L), about 7 m/s or
#: 4.2 heights/s for 1.7 m, only as it lands; with room for a silhouette that catches up
#: with the head at the landing, 7. A top that jumps faster between two frames is the
#: background taking (or giving back) the upper body of someone moving on the spot.
MAX_TOP_SPEED = 7.0
#: Share of ``min_body_area`` a box cut by the bottom edge of the view needs (the rest of
#: the body is out of view).
CUT_BODY_SHARE = 0.5
#: Two observations further apart than this are not "one frame to the next" (a track
#: break is judged between consecutive processed frames only).
FRAME_GAP_S = 0.25


@dataclass(frozen=True, slots=True)
class Features:
    """What the fall state machine sees in one frame."""

    t: float
    present: bool
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    reference_height: float = 0.0
    """The person's upright box height, in processing pixels."""
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
    reference_kind: str = ""
    """Where ``reference_height`` came from: ``stood``, ``scale``, ``guess`` or ``""``."""
    cut: bool = False
    """The box touches the bottom edge of the frame: part of the body may be out of view."""
    track_break: bool = False
    """This frame started a new geometry history (a jump, not a movement)."""
    landmarks: bool = False
    """The geometry is of a landmark box (the pose path), not of a silhouette."""


class FeatureTracker:
    """Turns a stream of observations of one person into ``Features``."""

    def __init__(self, settings: FallSettings, scale: BodyScale | None = None,
                 track: int = 0, *, silhouette: bool = True) -> None:
        """``silhouette``: the boxes come from the background model, whose one-frame
        jumps are track breaks; landmark boxes (``False``) jump with the landmarks that
        are visible (a fall turns limbs away from the camera), so they never break."""
        self.settings = settings
        self.scale = scale
        self.track = track
        self.silhouette = silhouette
        self._upright: deque[tuple[float, float, float, bool]] = deque()
        """Steady upright boxes: time, height, area, cut by the bottom edge."""
        self._whole = False
        """Whether the upright height was taken from a box not cut by the frame."""
        self._tops: deque[tuple[float, float]] = deque()
        self._rates: deque[tuple[float, float]] = deque()
        self._heights: deque[float] = deque(maxlen=STEADY_FRAMES)
        self._cuts: deque[bool] = deque(maxlen=STEADY_FRAMES)
        """Whether each of those boxes touched the bottom edge of the view."""
        self._recent_tops: deque[float] = deque(maxlen=3)
        self._reference = 0.0
        self._reference_area = 0.0
        self._kind = ""
        self._guess = 0.0
        self._guess_area = 0.0
        self._previous: tuple[int, int, int, int] | None = None
        self._previous_t = 0.0

    def update(self, observation: Observation | None, t: float) -> Features:
        if observation is None:
            return Features(t=t, present=False, landmarks=not self.silhouette)
        broke = False
        if self._tops and t - self._tops[-1][0] > self.settings.descent_window_s:
            self._new_history()  # a descent cannot be measured across a gap
        x, y, w, h = observation.box
        if self._previous is not None:
            if not overlaps(self._previous, observation.box):
                self._new_track()
                broke = True
            elif (self.silhouette and t - self._previous_t <= FRAME_GAP_S
                  and self._jumped(observation.box)
                  and (observation.motion < BODY_IN_MOTION
                       or self._too_fast(observation.box, t - self._previous_t))):
                self._new_history()
                broke = True
        self._previous, self._previous_t = observation.box, t
        cut = self.scale is not None and y + h >= self.scale.height - 1
        self._heights.append(h)
        self._cuts.append(cut)
        self._recent_tops.append(y)
        steady = _median(self._heights)
        reference = self._reference_height(t, steady, w * h, observation.box,
                                           observation.motion)
        drop, speed = self._descent(t, _median(self._recent_tops), reference)
        return Features(t=t, present=True, box=observation.box, reference_height=reference,
                        height_ratio=h / max(reference, h), aspect=w / max(h, 1),
                        area_ratio=w * h / max(self._reference_area, 1.0),
                        angle=observation.angle, drop=drop, drop_speed=speed,
                        motion=observation.motion, reference_kind=self._kind if reference
                        else "", cut=cut, track_break=broke, landmarks=not self.silhouette)

    def _jumped(self, box: tuple[int, int, int, int]) -> bool:
        """A one-frame change no body makes: the area halves or doubles while an edge
        jumps by ``track_break_shift`` body heights."""
        s = self.settings
        px, py, pw, ph = self._previous
        x, y, w, h = box
        area, before = max(w * h, 1), max(pw * ph, 1)
        if max(area, before) < s.track_break_area * min(area, before):
            return False
        size = max(self._reference, h, ph)
        shift = max(abs(y - py), abs(y + h - py - ph), abs(x - px), abs(x + w - px - pw))
        return shift >= s.track_break_shift * size

    def _too_fast(self, box: tuple[int, int, int, int], dt: float) -> bool:
        """Whether the box top moved faster than ``MAX_TOP_SPEED`` since the last frame."""
        size = max(self._reference, box[3], self._previous[3])
        return abs(box[1] - self._previous[1]) > MAX_TOP_SPEED * size * max(dt, 1e-3)

    def _new_history(self) -> None:
        """Forget where the box was (its tops, speeds and recent heights) but keep the
        person's upright height: the same person, seen differently from this frame on."""
        for history in (self._tops, self._rates, self._heights, self._cuts, self._recent_tops):
            history.clear()

    def _new_track(self) -> None:
        """Forget the geometry history and the upright height: the box jumped to another
        blob (another person, a moved chair) or the person was out of sight."""
        self._new_history()
        self._upright.clear()
        self._reference = self._reference_area = self._guess = self._guess_area = 0.0
        self._kind = ""
        self._whole = False

    def _is_steady(self) -> bool:
        """The last box heights agree, and the boxes were all cut by the bottom edge of
        the view or none was: a box that reaches the edge in one frame and not the next
        is a blob joining or leaving the person (furniture moved by a fall), not them."""
        if len(self._heights) < STEADY_FRAMES or len(set(self._cuts)) > 1:
            return False
        low, high = min(self._heights), max(self._heights)
        return high - low <= self.settings.steady_tolerance * high

    def _reference_height(self, t: float, steady: float, area: float,
                          box: tuple[int, int, int, int], motion: float = 0.0) -> float:
        """Tallest steady upright height in the window (``stood``); kept while lying.

        Until an upright posture has been seen (a person seated or in bed from the
        start) the camera's scale at their feet stands in (``scale``), or else the
        tallest box at least as tall as wide (``guess``). A person seen only lying, with
        no scale, has no reference (0): their height is not a body height, so no
        descent is measured. The box area at that height is kept too, to tell a whole
        lying body from a part of one.
        """
        window = self.settings.reference_window_s
        upright = steady * steady >= UPRIGHT_SHAPE * area  # height / width >= UPRIGHT_SHAPE
        if upright and self._is_steady():
            self._upright.append((t, steady, area, self._cuts[-1]))
            if (self.scale is not None and steady * steady >= STANDING_SHAPE * area
                    and motion >= WALKING_MOTION):
                self.scale.learn(box, t, self.track)
        while self._upright and self._upright[0][0] < t - window:
            self._upright.popleft()
        scaled = (self.scale.standing_height(box[1] + box[3])
                  if self.scale is not None else None)
        # a box cut by the bottom edge is a lower bound of a body, or a body merged with
        # what the fall moved at its feet (a mattress): it never overrules a whole one
        whole = [u for u in self._upright if not u[3]]
        if whole or (self._upright and not self._whole):
            _, self._reference, self._reference_area, _ = max(whole or self._upright,
                                                              key=lambda u: u[1])
            self._kind = "stood"
            self._whole = self._whole or bool(whole)
        if self._kind == "stood":
            # kept while lying (the window has moved on); but an "upright" box well short
            # of a standing body at this place was someone seated facing the camera
            if scaled is not None and self._reference < SEATED_BELOW * scaled:
                return self._scaled(scaled)
            return self._reference
        cautious = steady if len(self._heights) >= STEADY_FRAMES else min(self._heights)
        if cautious > self._guess and cautious * cautious >= area:
            self._guess, self._guess_area = cautious, area
        if scaled is not None and scaled >= self._guess:
            self._kind = "scale"
            return self._scaled(scaled)
        if self._guess > 0:
            self._reference, self._reference_area = self._guess, self._guess_area
            self._kind = "guess"
        return self._reference

    def _scaled(self, height: float) -> float:
        """The camera's scale as this person's reference (and the area of a body of that
        height standing: its height by ``STANDING_WIDTH`` of it)."""
        self._reference, self._reference_area = height, height * height * STANDING_WIDTH
        self._kind = "scale"
        return height

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
    differs from a background learnt while they stood still), not a body on the floor;
    but a box cut by the bottom edge of the view shows only what is still in view of a
    body that fell towards the camera, so there half of ``min_body_area`` will do.
    """
    needed = settings.min_body_area * (CUT_BODY_SHARE if features.cut else 1.0)
    return (features.area_ratio >= needed
            and (features.height_ratio <= settings.down_height_ratio
                 or features.aspect >= settings.lying_aspect))


def is_collapsed(features: Features, settings: FallSettings, head_drop: float) -> bool:
    """Fallen but not lying flat: the head stayed far below where it was before the
    descent (``head_drop`` body heights) and the body is still well under its height, or
    the head is down at the floor (``floor_drop``) whatever the shape of the box.

    This is the posture of a person slumped on the floor, or lying along the line of
    sight of the camera, whose box is neither short nor wide enough for ``is_low``: seen
    from a camera high in front, a body lying towards it is a tall narrow strip whose
    top is where its feet were. Only meaningful right after a fast descent: a person
    sitting down keeps their head higher.
    """
    return (features.area_ratio >= settings.min_body_area
            and (head_drop >= settings.floor_drop
                 or (head_drop >= settings.collapsed_drop
                     and features.height_ratio <= settings.collapsed_height_ratio)))


def is_up(features: Features, settings: FallSettings) -> bool:
    """Standing again: back near the upright height and taller than wide."""
    return (features.height_ratio >= settings.recover_height_ratio
            and features.aspect < settings.lying_aspect)


def _median(values: deque[float]) -> float:
    return sorted(values)[len(values) // 2]
