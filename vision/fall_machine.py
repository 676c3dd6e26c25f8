"""The fall state machine of one person: upright -> descending -> down -> still -> alarm.

A fall is a sequence, not a posture: a fast descent (``descend``), then a low or lying
posture that lasts (``land``, which raises ``fall_detected``), then no movement
(``settle``) for the inactivity time (``time_out``, which raises ``fall_confirmed``).
Getting back up cancels at any point (``abort`` before landing, ``get_up`` after it,
which raises ``recovered``). A slow lie-down never passes ``descend``, and a fast one
that ends inside a bed or sofa zone is a ``rest``, not a fall. A person who was lying
or sitting in a bed zone and ends low on the floor outside it without standing up on
the way has fallen out of bed (``leave_bed_to_floor``, which raises ``fall_detected``):
they have no standing height of their own to measure a descent from. Each person a
camera follows has their own machine.

The rules that decide *when* to fire a trigger live in ``FallMachine.update``; the
machine itself (states, transitions, which trigger raises which event) is data below.
"""

from __future__ import annotations

from enum import Enum

from transitions import EventData, Machine

from carefleet.machines import fire
from carefleet.vision.config import FallSettings, Zone
from carefleet.vision.events import EventKind, FallEvent
from carefleet.vision.features import UPRIGHT_SHAPE, Features, is_collapsed, is_low, is_up

#: Zones a person can fall out of onto the floor (``leave_bed_to_floor``), and how long
#: they must have been lying or sitting there first (passing through one is not being
#: in bed).
BED_KINDS = ("bed", "sofa")
BED_STAY_S = 1.0


class FallState(Enum):
    """Where one camera's person is in the fall sequence."""

    UPRIGHT = "upright"
    """Standing, walking, sitting: anything that did not start with a fast descent."""
    DESCENDING = "descending"
    """The head just dropped fast; waiting to see whether the body stays low."""
    DOWN = "down"
    """Fallen (``fall_detected`` was raised) and still moving."""
    STILL = "still"
    """Fallen and not moving; the inactivity clock runs."""
    ALARM = "alarm"
    """Fallen and still for the inactivity time (``fall_confirmed`` was raised)."""


S = FallState
TRANSITIONS = [
    {"trigger": "descend", "source": S.UPRIGHT, "dest": S.DESCENDING},
    {"trigger": "abort", "source": S.DESCENDING, "dest": S.UPRIGHT},
    {"trigger": "rest", "source": S.DESCENDING, "dest": S.UPRIGHT},
    {"trigger": "land", "source": S.DESCENDING, "dest": S.DOWN},
    {"trigger": "leave_bed_to_floor", "source": S.UPRIGHT, "dest": S.DOWN},
    {"trigger": "settle", "source": S.DOWN, "dest": S.STILL},
    {"trigger": "stir", "source": S.STILL, "dest": S.DOWN},
    {"trigger": "time_out", "source": S.STILL, "dest": S.ALARM},
    {"trigger": "get_up", "source": [S.DOWN, S.STILL, S.ALARM], "dest": S.UPRIGHT},
]

#: The triggers that the orchestrator hears about.
EVENT_OF_TRIGGER = {
    "land": EventKind.FALL_DETECTED,
    "leave_bed_to_floor": EventKind.FALL_DETECTED,
    "time_out": EventKind.FALL_CONFIRMED,
    "get_up": EventKind.RECOVERED,
}


class FallMachine:
    """One camera's fall sequence; ``update`` per frame returns the events it raised."""

    def __init__(self, camera_id: str, settings: FallSettings,
                 zones: tuple[Zone, ...] = (), frame_size: tuple[int, int] = (1, 1),
                 person: int = 0, landmark_settings: FallSettings | None = None) -> None:
        """``settings`` judge silhouette geometry; ``landmark_settings`` (the pose path's
        thresholds) judge the frames whose features come from landmarks."""
        self.camera_id = camera_id
        self.person = person
        self.settings = settings
        self._by_source = (settings, landmark_settings or settings)
        self.zones = zones
        self.frame_size = frame_size
        self.state = FallState.UPRIGHT
        self._machine = Machine(model=self, states=FallState, transitions=TRANSITIONS,
                                initial=FallState.UPRIGHT, auto_transitions=False,
                                send_event=True, after_state_change=self._announce)
        self._events: list[FallEvent] = []
        self._features = Features(t=0.0, present=False)
        self._descent_t = 0.0
        self._high_top = 0.0
        """Where the top of the box was before the descent (processing pixels)."""
        self._peak_speed = 0.0
        self._low_since: float | None = None
        self._up_since: float | None = None
        self._still_since = 0.0
        self._in_bed_t: float | None = None
        """When this person was last seen lying or sitting in a bed zone (None: not since
        they last stood)."""
        self._floor_since: float | None = None
        self._bed_since: float | None = None
        self._first_sight = True
        """Until this person was first seen out of a bed zone: someone who appears in bed
        (lying there since before the camera could tell them from the bed) was in bed."""

    # -- the machine -------------------------------------------------------------
    def fire(self, trigger: str) -> None:
        """Run a trigger; one the current state does not allow changes nothing and raises."""
        fire(self._machine, self, trigger, what=f"camera {self.camera_id}")

    def _announce(self, event: EventData) -> None:
        kind = EVENT_OF_TRIGGER.get(event.event.name)
        if kind is not None:
            f = self._features
            self._events.append(FallEvent(camera_id=self.camera_id, kind=kind, t=f.t,
                                          confidence=self._confidence(kind), box=f.box,
                                          person=self.person))

    # -- the rules ---------------------------------------------------------------
    def update(self, features: Features) -> list[FallEvent]:
        """Advance on one frame's features; returns the events raised by this frame."""
        self._events = []
        self._features = features
        self.settings = self._by_source[features.landmarks]
        if features.present:
            self._track_posture(features)
            getattr(self, f"_while_{self.state.value}")(features)
        elif self.state is FallState.STILL:
            self._while_still(features)  # an unseen fallen person is not a recovered one
        return self._events

    def _track_posture(self, f: Features) -> None:
        s = self.settings
        low, up = is_low(f, s), is_up(f, s)
        # how far the head is below where it stood: from the top before the descent, or
        # from the highest top in the descent window when the fall began earlier than
        # the descent was recognised (the window reaches further back)
        head_drop = max((f.box[1] - self._high_top) / max(f.reference_height, 1.0), f.drop)
        if self.state is FallState.DESCENDING and not low:
            low = is_collapsed(f, s, head_drop)
        if self.state is not FallState.UPRIGHT and head_drop >= s.floor_drop:
            up = False  # a tall box whose top is at the floor: lying towards the camera
        self._low_since = (self._low_since if self._low_since is not None else f.t) if low else None
        self._up_since = (self._up_since if self._up_since is not None else f.t) if up else None

    def _held(self, since: float | None, t: float, duration: float) -> bool:
        return since is not None and t - since >= duration

    def _while_upright(self, f: Features) -> None:
        s = self.settings
        if f.drop >= s.min_descent and f.drop_speed >= s.min_descent_speed:
            self._descent_t, self._peak_speed = f.t, f.drop_speed
            self._high_top = f.box[1] - f.drop * f.reference_height
            self.fire("descend")
        elif self._left_bed_to_floor(f):
            self._peak_speed = 2 * s.min_descent_speed  # the exit itself is the evidence
            self._high_top = f.box[1]  # no standing height to have come down from
            self.fire("leave_bed_to_floor")

    def _left_bed_to_floor(self, f: Features) -> bool:
        """Out of a bed (or sofa) zone and onto the floor without standing up between.

        A person lying or sitting in bed has no standing height of their own, so a roll
        off the bed onto the floor has no descent to measure. It is a fall all the same:
        they were in a bed zone (not upright, for ``BED_STAY_S``, or from the moment
        they were first seen: lying still there, they were part of the room), then, within
        ``land_within_s`` of leaving
        it and without standing up (``UPRIGHT_SHAPE`` tall) on the way, they lie low
        outside every bed zone for ``down_hold_s``. Getting out of bed by standing up
        beside it is not a fall; neither is sitting up in bed.
        """
        s = self.settings
        in_bed = self._in_zone(f, kinds=BED_KINDS)
        self._first_sight, first = False, self._first_sight
        self._first_sight = first and in_bed  # still the first stretch in bed
        standing = f.box[3] >= UPRIGHT_SHAPE * f.box[2]
        if standing:
            self._bed_since = self._in_bed_t = None
        elif in_bed:
            if self._bed_since is None:
                self._bed_since = f.t
            if f.t - self._bed_since >= BED_STAY_S or self._first_sight:
                self._in_bed_t = f.t  # lay there a while, or was first seen there
        else:
            self._bed_since = None
        if in_bed or self._in_bed_t is None or f.t - self._in_bed_t > s.land_within_s + s.down_hold_s:
            self._floor_since = None
            return False
        if not is_low(f, s):
            self._floor_since = None
            return False
        if self._floor_since is None:
            self._floor_since = f.t
        return f.t - self._floor_since >= s.down_hold_s

    def _while_descending(self, f: Features) -> None:
        s = self.settings
        self._peak_speed = max(self._peak_speed, f.drop_speed)
        if self._held(self._low_since, f.t, s.down_hold_s):
            self.fire("rest" if self._in_zone(f) else "land")
        elif f.t - self._descent_t > s.land_within_s:
            self.fire("abort")

    def _while_down(self, f: Features) -> None:
        if self._got_up(f):
            return
        if f.motion < self.settings.still_motion:
            self._still_since = f.t
            self.fire("settle")

    def _while_still(self, f: Features) -> None:
        s = self.settings
        if f.present and self._got_up(f):
            return
        if f.present and f.motion >= s.still_motion:
            self.fire("stir")
        elif f.t - self._still_since >= s.inactivity_s:
            self.fire("time_out")

    def _while_alarm(self, f: Features) -> None:
        self._got_up(f)

    def _got_up(self, f: Features) -> bool:
        if self._held(self._up_since, f.t, self.settings.recover_hold_s):
            self.fire("get_up")
            return True
        return False

    def _in_zone(self, f: Features, kinds: tuple[str, ...] | None = None) -> bool:
        x, y, w, h = f.box
        cx, cy = (x + w / 2) / self.frame_size[0], (y + h / 2) / self.frame_size[1]
        return any(zone.contains(cx, cy) for zone in self.zones
                   if kinds is None or zone.kind in kinds)

    def _confidence(self, kind: EventKind) -> float:
        """How clear-cut the fall was: descent speed and how low the body ended up.

        Both scores saturate at twice their thresholds; a recovery is always certain
        about itself (it only says the person is up).
        """
        if kind is EventKind.RECOVERED:
            return 1.0
        s, f = self.settings, self._features
        speed = min(1.0, self._peak_speed / (2 * s.min_descent_speed))
        lowness = min(1.0, max(0.0, 1.0 - f.height_ratio) / (1.0 - s.down_height_ratio / 2))
        return round(0.5 * speed + 0.5 * lowness, 3)
