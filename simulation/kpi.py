"""Key figures of a simulated day: what a care-home manager and a tester compare runs by.

``compute_kpis`` turns a ``SimResult`` into a flat dict with stable keys, so that
expectations ("meals_on_time_share >= 90 %"), the terminal table, the HTML report, the
JSON report and the README all speak of the same figures. Every key is described once,
in ``KPI_DEFINITIONS``; a figure that has no data in a run (no falls, no meals) is
``None`` rather than 0, because "no fall was answered slowly" is not the same as "the
answer took 0 s".

Shares are stored as fractions (0..1) and shown as percentages; times are stored in
the unit the key names. ``shown`` and ``stored`` convert between the two, so scenario
expectations are written in the unit the table prints (``min: 90`` for 90 %).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from carefleet.messages import DEFAULT_LANGUAGE, catalogue, render
from carefleet.simulation.result import SimResult

Kpis = dict[str, float | int | None]

COUNT = "count"
"""Unit of plain counts: the label says what is counted, so tables print the number alone."""

PERCENT = "%"
"""Unit of shares: stored as fractions (0..1), printed (and bounded in scenarios) as 0..100."""

#: Who the orchestrator itself is, as a requester or canceller of tasks (its charge tasks).
SYSTEM = "orchestrator"

#: key -> (label, unit, description), in the order tables show them.
KPI_DEFINITIONS: dict[str, tuple[str, str, str]] = {
    "meals_total": ("Meals to serve", COUNT,
                    "Rooms on all meal-delivery tasks (one tray per room and meal)."),
    "meals_delivered": ("Meals delivered", COUNT,
                        "Rooms where the tray was taken."),
    "meals_missed": ("Meals missed", COUNT,
                     "Rooms where nobody took the tray before the pickup timeout."),
    "meals_on_time_share": ("Meals on time", "%",
                            "Share of rooms to serve whose tray was taken no later than the "
                            "on-time window (default 30 min) after the meal slot; early counts "
                            "as on time, missed or undelivered as late."),
    "delivery_latency_mean_min": ("Delivery latency, mean", "min",
                                  "Tray taken minus meal slot, over delivered rooms "
                                  "(negative: early)."),
    "delivery_latency_p95_min": ("Delivery latency, 95th percentile", "min",
                                 "95th percentile of the delivery latency (linear "
                                 "interpolation between ranks)."),
    "delivery_latency_max_min": ("Delivery latency, max", "min",
                                 "Latest delivery relative to its meal slot."),
    "patrol_rounds_done": ("Patrol rounds", COUNT,
                           "Complete rounds walked over all patrol tasks."),
    "patrol_checkpoints_scanned": ("Checkpoints scanned", COUNT,
                                   "Checkpoint scans over all patrol tasks."),
    "falls": ("Falls", COUNT, "Fall-response tasks raised."),
    "fall_response_mean_s": ("Fall response, mean", "s",
                             "Robot in the room minus fall reported, over reached falls."),
    "fall_response_max_s": ("Fall response, max", "s",
                            "Slowest robot arrival at a fall."),
    "fall_unreached": ("Falls not reached", COUNT,
                       "Falls no robot reached (staff may have got there first)."),
    "robot_utilisation": ("Robot utilisation", "%",
                          "Share of robot-time (all robots, whole run) spent neither idle, "
                          "offline, in fault nor emergency-stopped; charging counts as busy."),
    "distance_km": ("Distance driven", "km", "Whole fleet."),
    "energy_kwh": ("Energy used", "kWh", "Whole fleet."),
    "tasks_total": ("Tasks", COUNT, "Every task of the run, of every kind."),
    "tasks_completed": ("Tasks completed", COUNT, "Tasks that ended completed."),
    "tasks_failed": ("Tasks failed", COUNT, "Tasks given up after their retry limit."),
    "tasks_cancelled": ("Tasks cancelled", COUNT,
                        "Tasks staff (any requester but the orchestrator) cancelled."),
    "system_cancelled": ("Tasks cancelled by the system", COUNT,
                         "Tasks the orchestrator dropped itself: charges it gave up (e.g. the "
                         "robot broke down) and tasks pinned to a robot that went down."),
    "tasks_escalated": ("Tasks escalated", COUNT,
                        "Failed tasks about which staff received a notification."),
    "tasks_lost": ("Tasks lost", COUNT,
                   "Accepted tasks missing after an orchestrator restart (must be 0)."),
    "min_battery": ("Lowest battery", "%", "Lowest charge any robot reached."),
}

#: Segment activities that are not work: the robot is waiting, down or stopped.
NOT_WORKING = frozenset({"idle", "offline", "fault", "emergency_stop"})

_DECIMALS = {"min": 1, "s": 0, "km": 2, "kWh": 2, "%": 1}


def compute_kpis(result: SimResult, *, on_time_window: float = 30.0) -> Kpis:
    """Every figure of ``KPI_DEFINITIONS`` for one run; ``on_time_window`` in minutes."""
    kpis: Kpis = {}
    kpis.update(_meal_kpis(_of_kind(result, "meal_delivery"), on_time_window))
    kpis.update(_patrol_kpis(_of_kind(result, "patrol")))
    kpis.update(_fall_kpis(_of_kind(result, "fall_response")))
    kpis.update(_fleet_kpis(result))
    kpis.update(_task_kpis(result))
    return {key: kpis[key] for key in KPI_DEFINITIONS}


def live_kpis(tasks: list[dict[str, Any]], alerts: list[dict[str, Any]], *,
              on_time_window: float = 30.0) -> dict[str, Any]:
    """Figures of a live ward from its stored task and alert records (today so far):
    the task-based KPIs of a simulated day, plus alert response times by stage."""
    from carefleet.orchestrator.alerts import stage_times
    kpis: dict[str, Any] = {}
    of = lambda kind: [t for t in tasks if t.get("kind") == kind]     # noqa: E731
    kpis.update(_meal_kpis(of("meal_delivery"), on_time_window))
    kpis.update(_patrol_kpis(of("patrol")))
    kpis.update(_fall_kpis(of("fall_response")))
    states = [t.get("state") for t in tasks]
    kpis.update({"tasks_total": len(tasks), "tasks_completed": states.count("completed"),
                 "tasks_failed": states.count("failed"),
                 "tasks_cancelled": states.count("cancelled"),
                 "tasks_open": len(tasks) - states.count("completed") - states.count("failed")
                 - states.count("cancelled")})
    return {"kpis": kpis, "alerts": {"raised": len(alerts), "by_stage": stage_times(alerts)}}


def _of_kind(result: SimResult, kind: str) -> list[dict[str, Any]]:
    return [task for task in result.tasks if task.get("kind") == kind]


def delivery_latencies(task: dict[str, Any]) -> dict[str, float]:
    """Room -> minutes from the meal slot to the tray being taken (negative: early).

    A meal task without a slot is measured from when it was asked for.
    """
    slot = task.get("due")
    if slot is None:
        slot = task["created_at"]
    delivered_at = task.get("progress", {}).get("delivered_at") or {}
    return {room: (at - slot) / 60.0 for room, at in delivered_at.items()}


def _meal_kpis(meals: list[dict[str, Any]], window: float) -> Kpis:
    total = sum(len(task["progress"].get("rooms", [])) for task in meals)
    latencies = [minutes for task in meals for minutes in delivery_latencies(task).values()]
    on_time = sum(1 for minutes in latencies if minutes <= window)
    return {
        "meals_total": total,
        "meals_delivered": sum(len(task["progress"].get("delivered", [])) for task in meals),
        "meals_missed": sum(len(task["progress"].get("missed", [])) for task in meals),
        "meals_on_time_share": on_time / total if total else None,
        "delivery_latency_mean_min": _mean(latencies),
        "delivery_latency_p95_min": percentile(latencies, 95.0),
        "delivery_latency_max_min": max(latencies, default=None),
    }


def _patrol_kpis(patrols: list[dict[str, Any]]) -> Kpis:
    return {
        "patrol_rounds_done": sum(task["progress"].get("rounds_done", 0) for task in patrols),
        "patrol_checkpoints_scanned": sum(task["progress"].get("scans", 0) for task in patrols),
    }


def _fall_kpis(falls: list[dict[str, Any]]) -> Kpis:
    reached = [task["progress"]["reached_at"] - task["created_at"] for task in falls
               if task["progress"].get("reached_at") is not None]
    return {
        "falls": len(falls),
        "fall_response_mean_s": _mean(reached),
        "fall_response_max_s": max(reached, default=None),
        "fall_unreached": len(falls) - len(reached),
    }


def _fleet_kpis(result: SimResult) -> Kpis:
    robots = result.robots
    return {
        "robot_utilisation": fleet_utilisation(result),
        "distance_km": sum(robot.distance_m for robot in robots) / 1000.0,
        "energy_kwh": sum(robot.energy_wh for robot in robots) / 1000.0,
        "min_battery": min((robot.min_battery for robot in robots), default=None),
    }


def _task_kpis(result: SimResult) -> Kpis:
    told = {note.task_id for note in result.notifications if note.task_id is not None}
    states = [task.get("state") for task in result.tasks]
    cancellers = [who for who in map(cancelled_by, result.tasks) if who is not None]
    return {
        "tasks_total": len(result.tasks),
        "tasks_completed": states.count("completed"),
        "tasks_failed": states.count("failed"),
        "tasks_cancelled": sum(1 for who in cancellers if who != SYSTEM),
        "system_cancelled": sum(1 for who in cancellers if who == SYSTEM),
        "tasks_escalated": sum(1 for task in result.tasks
                               if task.get("state") == "failed" and task["id"] in told),
        "tasks_lost": len(result.lost_tasks),
    }


_CANCELLED_BY = re.compile(r"\(by (?P<who>[^()]+)\)\s*$")


def cancelled_by(task: dict[str, Any]) -> str | None:
    """Who cancelled ``task``: the requester a cancel request names ("... (by staff:mei)"),
    or ``SYSTEM`` when the orchestrator dropped it itself; None if it is not cancelled.

    The cancel row of the task's history says it; the final ``reason`` is the fallback.
    """
    if task.get("state") != "cancelled":
        return None
    reasons = [row[2] for row in task.get("history") or ()
               if len(row) >= 3 and row[1] == "cancelled"]
    reason = str(reasons[-1] if reasons else task.get("reason") or "")
    match = _CANCELLED_BY.search(reason)
    return match["who"].strip() if match else SYSTEM


def shown(key: str, value: float) -> float:
    """A stored figure in the unit tables print (a share 0.9 -> 90 for a % KPI)."""
    return value * 100.0 if KPI_DEFINITIONS[key][1] == PERCENT else value


def stored(key: str, value: float) -> float:
    """The inverse of ``shown``: a bound written as people read it -> the stored unit.

    Dividing (90 / 100) rather than multiplying the measured share keeps a bound equal
    to a share computed as a ratio (7 / 25 against 28 %) exactly equal.
    """
    return value / 100.0 if KPI_DEFINITIONS[key][1] == PERCENT else value


def working_seconds(result: SimResult, robot_index: int) -> float:
    """Seconds robot ``robot_index`` spent working, clipped to the run's span."""
    total = 0.0
    for segment in result.robots[robot_index].segments:
        if segment.activity not in NOT_WORKING:
            total += max(0.0, min(segment.end, result.end) - max(segment.start, result.start))
    return total


def robot_utilisation(result: SimResult, robot_index: int) -> float | None:
    """Working share of one robot's run; time with no segment counts as not working."""
    span = result.end - result.start
    return working_seconds(result, robot_index) / span if span > 0 else None


def fleet_utilisation(result: SimResult) -> float | None:
    """Working share of all robot-time: robots x run span is the denominator."""
    span = (result.end - result.start) * len(result.robots)
    if span <= 0:
        return None
    return sum(working_seconds(result, i) for i in range(len(result.robots))) / span


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile with linear interpolation between ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def kpi_label(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """A figure's name in ``language`` (English is ``KPI_DEFINITIONS``' own)."""
    english = KPI_DEFINITIONS[key][0]
    return english if language == DEFAULT_LANGUAGE else \
        catalogue(language, "report").get(f"kpi.{key}", english)


def kpi_meaning(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """What a figure means, in ``language``."""
    english = KPI_DEFINITIONS[key][2]
    return english if language == DEFAULT_LANGUAGE else \
        catalogue(language, "report").get(f"kpi_meaning.{key}", english)


def format_value(key: str, value: float | int | None,
                 language: str = DEFAULT_LANGUAGE) -> str:
    """A figure as people read it: unit attached, sensibly rounded, "n/a" for no data."""
    number, unit = _number_and_unit(key, value, language)
    return f"{number} {unit}" if unit else number


def _number_and_unit(key: str, value: float | int | None,
                     language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """The rounded number and the unit to print after it (none for counts and n/a)."""
    if value is None:
        return render("not_available", {}, language, "report"), ""
    unit = KPI_DEFINITIONS[key][1]
    if unit == COUNT:
        return str(value), ""
    return f"{shown(key, value):.{_DECIMALS.get(unit, 2)}f}", unit


def format_kpi_table(kpis: Kpis, language: str = DEFAULT_LANGUAGE) -> str:
    """An aligned table (label, number, unit) for the terminal, in definition order.

    Numbers are right-aligned in their own column so decimal places line up (labels
    are padded by display width: a Chinese character takes two columns).
    """
    rows = [(kpi_label(key, language), *_number_and_unit(key, kpis[key], language))
            for key in KPI_DEFINITIONS if key in kpis]
    label_width = max((_width(label) for label, _, _ in rows), default=0)
    number_width = max((_width(number) for _, number, _ in rows), default=0)
    return "\n".join(f"{label}{' ' * (label_width - _width(label))}  "
                     f"{' ' * (number_width - _width(number))}{number} {unit}".rstrip()
                     for label, number, unit in rows)


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def definitions_markdown() -> str:
    """``KPI_DEFINITIONS`` as a Markdown table, so the README never drifts from the code."""
    lines = ["| key | figure | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {label} | {unit} | {text} |"
              for key, (label, unit, text) in KPI_DEFINITIONS.items()]
    return "\n".join(lines)
