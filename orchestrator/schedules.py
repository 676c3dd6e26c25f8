"""Recurring work in ward-local time: meal services and night patrols.

A schedule names clock times ("12:00") in the ward's time zone; ``slots_between``
turns them into epoch seconds between two instants, so the core (which only knows
epoch seconds handed to it) can fire every slot exactly once, across midnight and
daylight-saving changes, and a restarted orchestrator does not fire a slot twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def parse_clock(text: str) -> time:
    """``"07:30"`` -> ``time(7, 30)``; raises ValueError with a readable message."""
    try:
        hours, minutes = str(text).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise ValueError(f"'{text}' is not a clock time like 07:30") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class MealService:
    """Meals for ``rooms`` (None: every resident room) at ``at`` every day.

    ``lead`` seconds before ``at`` the service is planned and the first robots start
    loading, so the first trays leave the kitchen near the slot instead of after it;
    with ``hot_limit`` no tray rides longer than that from the start of its loading
    to its door (the planner cuts shorter trips). Latency is still counted from ``at``.
    """

    name: str
    at: time
    rooms: tuple[str, ...] | None = None
    pickup_timeout: float = 180.0
    lead: float = 0.0
    hot_limit: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolSchedule:
    """Patrol ``checkpoints`` from ``start`` to ``end`` (may cross midnight) every day.

    With ``rounds`` the patrol walks that many rounds from ``start``; without, it walks
    rounds until ``end``.
    """

    name: str
    start: time
    end: time
    checkpoints: tuple[str, ...]
    rounds: int | None = None

    def window_end(self, slot: float, zone: ZoneInfo) -> float:
        """Epoch seconds of the ``end`` that follows the start ``slot``."""
        begin = datetime.fromtimestamp(slot, zone)
        end = datetime.combine(begin.date(), self.end, zone)
        if end <= begin:
            end += timedelta(days=1)
        return end.timestamp()


Schedule = MealService | PatrolSchedule


def schedule_record(schedule: Schedule) -> dict[str, Any]:
    """A schedule as JSON-able data (the store keeps the ones staff create or change)."""
    if isinstance(schedule, MealService):
        return {"type": "meal", "name": schedule.name, "at": schedule.at.strftime("%H:%M"),
                "rooms": list(schedule.rooms) if schedule.rooms is not None else None,
                "pickup_timeout": schedule.pickup_timeout, "lead": schedule.lead,
                "hot_limit": schedule.hot_limit}
    return {"type": "patrol", "name": schedule.name, "start": schedule.start.strftime("%H:%M"),
            "end": schedule.end.strftime("%H:%M"), "checkpoints": list(schedule.checkpoints),
            "rounds": schedule.rounds}


def schedule_from_record(record: dict[str, Any]) -> Schedule:
    """The inverse of ``schedule_record``."""
    if record["type"] == "meal":
        rooms = record.get("rooms")
        return MealService(name=record["name"], at=parse_clock(record["at"]),
                           rooms=tuple(rooms) if rooms is not None else None,
                           pickup_timeout=float(record.get("pickup_timeout", 180.0)),
                           lead=float(record.get("lead") or 0.0),
                           hot_limit=(float(record["hot_limit"])
                                      if record.get("hot_limit") is not None else None))
    return PatrolSchedule(name=record["name"], start=parse_clock(record["start"]),
                          end=parse_clock(record["end"]),
                          checkpoints=tuple(record["checkpoints"]), rounds=record.get("rounds"))


def slot_time(schedule: Schedule) -> time:
    return schedule.at if isinstance(schedule, MealService) else schedule.start


def lead_of(schedule: Schedule) -> float:
    """Seconds before its clock time a schedule fires (a meal service's loading lead)."""
    return schedule.lead if isinstance(schedule, MealService) else 0.0


def slots_between(schedule: Schedule, after: float, until: float, zone: ZoneInfo) -> list[float]:
    """Epoch seconds at which it fires (its clock time less its lead) with ``after < t <= until``."""
    clock, lead = slot_time(schedule), lead_of(schedule)
    day = datetime.fromtimestamp(after, zone).date()
    last_day = datetime.fromtimestamp(until + lead, zone).date()
    slots = []
    while day <= last_day:
        t = datetime.combine(day, clock, zone).timestamp() - lead
        if after < t <= until:
            slots.append(t)
        day += timedelta(days=1)
    return slots


def next_slot(schedule: Schedule, after: float, zone: ZoneInfo) -> float:
    """Epoch seconds of the first occurrence strictly after ``after``."""
    return min(slots_between(schedule, after, after + 2 * 86400.0 + lead_of(schedule), zone))

