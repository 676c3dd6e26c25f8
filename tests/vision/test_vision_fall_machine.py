"""The fall state machine alone, fed hand-made features (one test per transition)."""

from __future__ import annotations

import pytest

from carefleet.errors import IllegalTransition
from carefleet.vision.config import Zone, default_config
from carefleet.vision.events import EventKind
from carefleet.vision.fall_machine import TRANSITIONS, FallMachine, FallState
from carefleet.vision.features import Features

S = default_config().fall
STANDING = dict(box=(100, 40, 40, 120), height_ratio=1.0, aspect=0.33, motion=0.2,
                reference_height=120.0)
LYING = dict(box=(80, 160, 120, 40), height_ratio=0.33, aspect=3.0, motion=0.2,
             reference_height=120.0)
SLUMPED = dict(box=(90, 110, 60, 70), height_ratio=0.58, aspect=0.86, motion=0.2,
               reference_height=120.0)
FAST_DROP = dict(drop=0.6, drop_speed=S.min_descent_speed + 1.0)
#: Mid-fall: the top of the box is already 0.6 heights (72 px) below where it stood.
FALLING = dict(STANDING, box=(100, 40 + 72, 60, 90), **FAST_DROP)


def f(t: float, **values) -> Features:
    return Features(t=t, present=True, **values)


def feed(machine: FallMachine, frames: list[Features]) -> list:
    events = []
    for features in frames:
        events += machine.update(features)
    return events


def fallen(machine: FallMachine) -> list:
    """Standing, a fast drop at 1 s, then lying from 1.2 s to 2.0 s."""
    frames = [f(0.0, **STANDING), f(1.0, **STANDING | FAST_DROP)]
    frames += [f(1.2 + i * 0.1, **LYING) for i in range(9)]
    return feed(machine, frames)


def test_fast_descent_then_lying_is_a_fall():
    machine = FallMachine("cam", S)
    events = fallen(machine)
    assert [e.kind for e in events] == [EventKind.FALL_DETECTED]
    assert events[0].t == pytest.approx(1.2 + S.down_hold_s, abs=0.11)
    assert events[0].box == LYING["box"]
    assert machine.state is FallState.DOWN


def test_slow_descent_is_not_a_fall():
    machine = FallMachine("cam", S)
    slow = dict(drop=S.min_descent + 0.2, drop_speed=S.min_descent_speed * 0.5)
    frames = [f(0.0, **STANDING), f(1.0, **STANDING | slow)]
    frames += [f(1.2 + i * 0.1, **LYING) for i in range(20)]
    assert feed(machine, frames) == []
    assert machine.state is FallState.UPRIGHT


def test_descent_without_landing_low_is_aborted():
    machine = FallMachine("cam", S)
    frames = [f(0.0, **STANDING), f(1.0, **STANDING | FAST_DROP)]
    frames += [f(1.1 + i * 0.1, **STANDING) for i in range(int(S.land_within_s * 10) + 2)]
    assert feed(machine, frames) == []
    assert machine.state is FallState.UPRIGHT


def test_slumping_with_the_head_far_down_is_a_fall():
    """Not short or wide enough to be lying, but the head stayed 0.6 heights down."""
    machine = FallMachine("cam", S)
    frames = [f(0.0, **STANDING), f(1.0, **FALLING)]
    frames += [f(1.2 + i * 0.1, **SLUMPED) for i in range(9)]
    assert [e.kind for e in feed(machine, frames)] == [EventKind.FALL_DETECTED]


def test_sitting_down_fast_is_not_a_fall():
    """Same height as slumping, but the head dropped only 0.3 heights: a chair."""
    machine = FallMachine("cam", S)
    seated = dict(SLUMPED, box=(90, 76, 60, 70))
    frames = [f(0.0, **STANDING), f(1.0, **FALLING)]
    frames += [f(1.2 + i * 0.1, **seated) for i in range(30)]
    assert feed(machine, frames) == []


def test_landing_in_a_zone_is_rest_not_a_fall():
    bed = Zone(name="bed", kind="bed", polygon=((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
    machine = FallMachine("cam", S, (bed,), frame_size=(320, 240))
    assert fallen(machine) == []
    assert machine.state is FallState.UPRIGHT


def test_lying_still_settles_then_times_out_into_an_alarm():
    machine = FallMachine("cam", S)
    fallen(machine)
    still = dict(LYING, motion=0.0)
    assert feed(machine, [f(2.1, **still)]) == []
    assert machine.state is FallState.STILL
    assert feed(machine, [f(2.1 + S.inactivity_s - 0.5, **still)]) == []
    events = feed(machine, [f(2.1 + S.inactivity_s, **still)])
    assert [e.kind for e in events] == [EventKind.FALL_CONFIRMED]
    assert machine.state is FallState.ALARM


def test_moving_while_down_restarts_the_inactivity_clock():
    machine = FallMachine("cam", S)
    fallen(machine)
    still = dict(LYING, motion=0.0)
    feed(machine, [f(2.1, **still), f(5.0, **LYING)])
    assert machine.state is FallState.DOWN
    feed(machine, [f(6.0, **still)])
    assert feed(machine, [f(6.0 + S.inactivity_s - 0.5, **still)]) == []


def test_an_unseen_fallen_person_still_times_out():
    machine = FallMachine("cam", S)
    fallen(machine)
    feed(machine, [f(2.1, **dict(LYING, motion=0.0))])
    events = feed(machine, [Features(t=2.1 + S.inactivity_s, present=False)])
    assert [e.kind for e in events] == [EventKind.FALL_CONFIRMED]


@pytest.mark.parametrize("settle", [False, True])
def test_standing_up_for_long_enough_is_a_recovery(settle):
    machine = FallMachine("cam", S)
    fallen(machine)
    if settle:
        feed(machine, [f(2.1, **dict(LYING, motion=0.0))])
    t0 = 3.0
    frames = [f(t0 + i * 0.1, **STANDING) for i in range(int(S.recover_hold_s * 10) + 1)]
    events = feed(machine, frames)
    assert [e.kind for e in events] == [EventKind.RECOVERED]
    assert machine.state is FallState.UPRIGHT


def test_a_moment_upright_is_not_yet_a_recovery():
    machine = FallMachine("cam", S)
    fallen(machine)
    assert feed(machine, [f(3.0, **STANDING), f(3.0 + S.recover_hold_s / 2, **STANDING),
                          f(3.6, **LYING)]) == []
    assert machine.state is FallState.DOWN


def test_an_illegal_trigger_raises_and_changes_nothing():
    machine = FallMachine("ward-3", S)
    with pytest.raises(IllegalTransition, match="camera ward-3: cannot 'land' while 'upright'"):
        machine.fire("land")
    assert machine.state is FallState.UPRIGHT


def test_every_transition_is_reachable_from_its_sources():
    """The data and the machine agree: each (source, trigger) leads to its dest."""
    for transition in TRANSITIONS:
        sources = transition["source"]
        for source in sources if isinstance(sources, list) else [sources]:
            machine = FallMachine("cam", S)
            machine.state = source
            machine.fire(transition["trigger"])
            assert machine.state is transition["dest"]


BED = Zone(name="bed", kind="bed", polygon=((0.5, 0.3), (1.0, 0.3), (1.0, 0.7), (0.5, 0.7)))
IN_BED = dict(box=(180, 90, 110, 30), height_ratio=1.0, aspect=3.7, motion=0.05)   # lying
ON_FLOOR = dict(box=(60, 190, 110, 30), height_ratio=1.0, aspect=3.7, motion=0.1)
BESIDE_BED = dict(box=(120, 80, 40, 120), height_ratio=1.0, aspect=0.33, motion=0.1)


def in_bed_machine() -> FallMachine:
    return FallMachine("cam", S, (BED,), frame_size=(320, 240))


def test_leaving_a_bed_to_the_floor_without_standing_up_is_a_fall():
    """No standing height, no descent: in bed, then lying on the floor outside it."""
    machine = in_bed_machine()
    frames = [f(i * 0.1, **IN_BED) for i in range(20)]
    frames += [f(2.0 + i * 0.1, **ON_FLOOR) for i in range(10)]
    events = feed(machine, frames)
    assert [e.kind for e in events] == [EventKind.FALL_DETECTED]
    assert events[0].t == pytest.approx(2.0 + S.down_hold_s, abs=0.11)
    assert machine.state is FallState.DOWN


def test_standing_up_beside_the_bed_then_lying_on_the_floor_needs_a_descent():
    machine = in_bed_machine()
    frames = [f(i * 0.1, **IN_BED) for i in range(20)]
    frames += [f(2.0 + i * 0.1, **BESIDE_BED) for i in range(10)]
    frames += [f(3.0 + i * 0.1, **ON_FLOOR) for i in range(10)]   # slowly: no fast drop
    assert feed(machine, frames) == []


def test_lying_on_the_floor_long_after_leaving_the_bed_is_not_this_rule():
    machine = in_bed_machine()
    frames = [f(i * 0.1, **IN_BED) for i in range(20)]
    frames += [f(2.0 + S.land_within_s + S.down_hold_s + 0.5 + i * 0.1, **ON_FLOOR)
               for i in range(10)]
    assert feed(machine, frames) == []


def test_someone_first_seen_in_bed_was_in_bed():
    """Lying still there since before the camera could tell them from the bed, they are
    found only when they move: the first sight of them in the bed zone counts."""
    machine = in_bed_machine()
    frames = [f(0.0, **IN_BED), f(0.1, **IN_BED)]
    frames += [f(0.5 + i * 0.1, **ON_FLOOR) for i in range(10)]
    assert [e.kind for e in feed(machine, frames)] == [EventKind.FALL_DETECTED]


def test_passing_through_a_bed_zone_is_not_being_in_bed():
    machine = in_bed_machine()
    crouched = dict(IN_BED, aspect=0.9, box=(200, 90, 40, 44))     # not upright, briefly
    frames = [f(i * 0.1, **crouched) for i in range(5)]
    frames = [f(-1.0, **ON_FLOOR)] + frames                         # seen before, elsewhere
    frames += [f(0.6 + i * 0.1, **ON_FLOOR) for i in range(10)]
    assert feed(machine, frames) == []
