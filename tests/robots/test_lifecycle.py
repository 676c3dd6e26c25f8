"""Robot lifecycle machine: every allowed transition reaches its destination, every other
(state, trigger) pair is refused with ``IllegalTransition`` and changes nothing.

The cases are generated from ``TRANSITIONS`` itself, so a new transition gets a test.
"""

from __future__ import annotations

import pytest

from carefleet.errors import IllegalTransition
from carefleet.machines import allowed_triggers
from carefleet.robots.lifecycle import MACHINE, TRANSITIONS, Robot, RobotState, robot_diagram
from carefleet.robots.model import Capability, RobotProfile, RobotSpec

PROFILE = RobotProfile(model="test", trays=2,
                       capabilities=frozenset({Capability.MEAL_DELIVERY}))


def _sources(transition: dict) -> list[RobotState]:
    source = transition["source"]
    if source == "*":
        return list(RobotState)
    return list(source) if isinstance(source, list) else [source]


ALLOWED = [(t["trigger"], source, t["dest"]) for t in TRANSITIONS for source in _sources(t)]
ALLOWED_PAIRS = {(trigger, source) for trigger, source, _ in ALLOWED}
TRIGGERS = sorted({t["trigger"] for t in TRANSITIONS})
DISALLOWED = [(trigger, state) for state in RobotState for trigger in TRIGGERS
              if (trigger, state) not in ALLOWED_PAIRS]


def robot_in(state: RobotState, robot_id: str = "r1") -> Robot:
    robot = Robot(RobotSpec(id=robot_id, profile=PROFILE, start="kitchen"), "f1_service")
    MACHINE.set_state(state, model=robot)
    assert robot.state is state
    return robot


def test_new_robot_is_offline_and_not_available() -> None:
    robot = Robot(RobotSpec(id="r1", profile=PROFILE, start="kitchen"), "f1_service")
    assert robot.state is RobotState.OFFLINE
    assert not robot.available


@pytest.mark.parametrize(("trigger", "source", "dest"), ALLOWED,
                         ids=[f"{s.value}-{t}-{d.value}" for t, s, d in ALLOWED])
def test_allowed_transition_reaches_dest(trigger: str, source: RobotState,
                                         dest: RobotState) -> None:
    robot = robot_in(source)
    robot.trigger(trigger)
    assert robot.state is dest


@pytest.mark.parametrize(("trigger", "state"), DISALLOWED,
                         ids=[f"{s.value}-{t}" for t, s in DISALLOWED])
def test_disallowed_trigger_raises_and_changes_nothing(trigger: str, state: RobotState) -> None:
    robot = robot_in(state, robot_id="r7")
    with pytest.raises(IllegalTransition) as caught:
        robot.trigger(trigger)
    assert robot.state is state
    message = str(caught.value)
    assert "robot r7" in message and state.value in message and trigger in message
    assert (caught.value.state, caught.value.event) == (state.value, trigger)


def test_unknown_trigger_is_an_illegal_transition() -> None:
    robot = robot_in(RobotState.IDLE)
    with pytest.raises(IllegalTransition, match="robot r1: cannot 'teleport' while 'idle'"):
        robot.trigger("teleport")
    assert robot.state is RobotState.IDLE


def test_every_state_is_covered_by_the_cases() -> None:
    # Each state appears in the allowed or refused cases for every trigger.
    assert len(ALLOWED_PAIRS) + len(DISALLOWED) == len(TRIGGERS) * len(RobotState)
    # No duplicate (trigger, source) in the data: a machine must be deterministic.
    assert len(ALLOWED_PAIRS) == len(ALLOWED)


@pytest.mark.parametrize("state", list(RobotState), ids=[s.value for s in RobotState])
def test_allowed_triggers_match_the_data(state: RobotState) -> None:
    expected = sorted(t for t, s in ALLOWED_PAIRS if s is state)
    assert allowed_triggers(MACHINE, state) == expected


@pytest.mark.parametrize("state", list(RobotState), ids=[s.value for s in RobotState])
def test_available_only_when_connected_and_working(state: RobotState) -> None:
    expected = state in (RobotState.IDLE, RobotState.NAVIGATING, RobotState.PERFORMING,
                         RobotState.CHARGING)
    assert robot_in(state).available is expected


def test_robots_do_not_share_state() -> None:
    first, second = robot_in(RobotState.IDLE, "a"), robot_in(RobotState.IDLE, "b")
    first.trigger("navigate")
    assert (first.state, second.state) == (RobotState.NAVIGATING, RobotState.IDLE)


def test_diagram_draws_every_transition() -> None:
    text = robot_diagram()
    for trigger, source, dest in ALLOWED:
        assert f'"{source.value}" -> "{dest.value}" [label="{trigger}"];' in text
