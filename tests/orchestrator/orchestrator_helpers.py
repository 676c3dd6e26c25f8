"""Small helpers the orchestrator tests import by name (a uniquely named module: several
test folders have a ``conftest``, and which one ``import conftest`` finds depends on order)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from carefleet.messages import render
from carefleet.orchestrator.commands import NotifyStaff
from carefleet.robots.model import Capability, RobotProfile
from carefleet.tasks.model import TaskState

ZONE = ZoneInfo("Asia/Shanghai")          # the demo ward's time zone
#: Monday 2 June 2025, 08:00 ward-local time
START = datetime(2025, 6, 2, 8, 0, tzinfo=ZONE).timestamp()
ACTION_SECONDS = 10.0

MEAL_BOT = RobotProfile(model="tray-bot", trays=4,
                        capabilities=frozenset({Capability.MEAL_DELIVERY}))
PATROL_BOT = RobotProfile(model="patrol-bot",
                          capabilities=frozenset({Capability.PATROL, Capability.CAMERA}))
ALL_ROUND = RobotProfile(model="all-round", trays=2, capabilities=frozenset(Capability))


def finished_view(record: dict[str, Any]) -> SimpleNamespace:
    """A task that left the core within one event, seen through its stored record."""
    fields = {**record, **record.get("progress", {})}
    fields.update(state=TaskState(record["state"]), robot=record["assigned_robot"])
    return SimpleNamespace(**fields)


def text(note: NotifyStaff) -> str:
    """A notification as staff read it (in English)."""
    return render(note.key, note.params)
