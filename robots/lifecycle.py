"""A robot's lifecycle as the orchestrator sees it, as a ``transitions`` machine.

The orchestrator keeps one ``Robot`` per fleet member. Its state changes only through
the triggers below; anything else raises ``IllegalTransition`` and changes nothing, so
a confused driver report can never silently put a robot in an impossible state.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from carefleet.machines import build_machine, diagram, fire
from carefleet.robots.model import RobotSpec


class RobotState(Enum):
    OFFLINE = "offline"
    """No status from the robot yet (or the link is lost): never given work."""
    IDLE = "idle"
    """Connected, stationary, ready for the next order."""
    NAVIGATING = "navigating"
    """Driving to a place on an order from the orchestrator."""
    PERFORMING = "performing"
    """Doing a named action in place (loading trays, awaiting pickup, attending a resident)."""
    CHARGING = "charging"
    """Docked at a charger."""
    FAULT = "fault"
    """Broken, stuck or out of battery: its work has been handed to others."""
    EMERGENCY_STOP = "emergency_stop"
    """Stopped by its emergency button: waits for a person to release it."""


_S = RobotState
_ACTIVE = [_S.IDLE, _S.NAVIGATING, _S.PERFORMING, _S.CHARGING]
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "connect", "source": _S.OFFLINE, "dest": _S.IDLE},
    {"trigger": "navigate", "source": _ACTIVE, "dest": _S.NAVIGATING},
    {"trigger": "arrive", "source": _S.NAVIGATING, "dest": _S.IDLE},
    {"trigger": "perform", "source": _S.IDLE, "dest": _S.PERFORMING},
    {"trigger": "finish", "source": _S.PERFORMING, "dest": _S.IDLE},
    {"trigger": "halt", "source": [_S.NAVIGATING, _S.PERFORMING], "dest": _S.IDLE},
    {"trigger": "dock", "source": _S.IDLE, "dest": _S.CHARGING},
    {"trigger": "undock", "source": _S.CHARGING, "dest": _S.IDLE},
    {"trigger": "fail", "source": _ACTIVE + [_S.EMERGENCY_STOP], "dest": _S.FAULT},
    {"trigger": "recover", "source": _S.FAULT, "dest": _S.IDLE},
    {"trigger": "estop", "source": _ACTIVE + [_S.FAULT], "dest": _S.EMERGENCY_STOP},
    {"trigger": "release", "source": _S.EMERGENCY_STOP, "dest": _S.IDLE},
    {"trigger": "disconnect", "source": _ACTIVE + [_S.FAULT, _S.EMERGENCY_STOP], "dest": _S.OFFLINE},
]

MACHINE = build_machine(RobotState, TRANSITIONS, RobotState.OFFLINE)


_WATCHED = frozenset({"state", "position", "battery", "task", "error", "held", "charger"})


class Robot:
    """The orchestrator's record of one robot: lifecycle state plus what it is doing.

    ``queue`` holds the ids of tasks assigned to the robot but not started, in the
    order it will do them; ``task`` is the one it is doing now.
    """

    state: RobotState

    def __init__(self, spec: RobotSpec, position: str) -> None:
        self.sink: set[str] | None = None  # where a change of what staff see is noted
        self.spec = spec
        self.id = spec.id
        self.profile = spec.profile
        self.position = position          # waypoint id of the last place reached
        self.battery = 1.0                # fraction of capacity
        self.task: str | None = None
        self.queue: list[str] = []
        self.command: str | None = None   # id of the command in flight
        self.deadline: float | None = None  # when that command is overdue
        self.error: str | None = None
        self.charger: str | None = None   # charger place held (reserved or docked)
        self.dock_command: str | None = None  # the Dock it charges under: a Stop ends it
        self.last_seen = 0.0              # when it last reported (status or result)
        self.charge_retry_at: float | None = None  # a charge failed: no new one before this
        self.held = False                 # paused by staff: no work until resumed
        MACHINE.add_model(self)

    def __setattr__(self, name: str, value: object) -> None:
        """Note the robot in ``sink`` when what a read model shows of it changes, so the
        orchestrator and its host look at changed robots only, never the whole fleet
        (``queue`` changes in place: the orchestrator notes those itself)."""
        object.__setattr__(self, name, value)
        if name in _WATCHED:
            sink = self.__dict__.get("sink")
            if sink is not None:
                sink.add(self.id)

    def trigger(self, name: str) -> None:
        """Fire lifecycle trigger ``name`` or raise ``IllegalTransition``."""
        fire(MACHINE, self, name, what=f"robot {self.id}")

    @property
    def available(self) -> bool:
        """May be given work (connected, not broken or stopped)."""
        return not self.held and self.state in (_S.IDLE, _S.NAVIGATING, _S.PERFORMING,
                                                _S.CHARGING)

    @property
    def battery_wh(self) -> float:
        return self.battery * self.profile.battery.capacity_wh

    def __repr__(self) -> str:
        return f"<Robot {self.id} {self.state.value} at {self.position} {self.battery:.0%}>"


def robot_diagram() -> str:
    return diagram(RobotState, TRANSITIONS, "robot lifecycle")
