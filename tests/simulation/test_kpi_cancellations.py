"""``tasks_cancelled`` counts what staff (anyone but the orchestrator) withdrew;
``system_cancelled`` counts what the orchestrator withdrew itself (a charge it dropped
when its robot broke down, a task pinned to a robot that went down)."""

from __future__ import annotations

import pytest

from carefleet.simulation.kpi import KPI_DEFINITIONS, cancelled_by, compute_kpis
from carefleet.simulation.result import SimResult


def record(id: str, kind: str, state: str, reason: str, requested_by: str = "staff:ann") -> dict:
    history = [[0.0, "queued", "accepted"]]
    if state != "queued":
        history.append([60.0, state, reason])
    return {"id": id, "kind": kind, "state": state, "reason": reason,
            "requested_by": requested_by, "created_at": 0.0, "progress": {}, "history": history}


def kpis_of(*tasks: dict) -> dict:
    result = SimResult(scenario="s", source="", ward="w", ward_file="", timezone="UTC", seed=0,
                       start=0.0, end=3600.0, robots=[], tasks=list(tasks))
    return compute_kpis(result)


def test_both_kpis_are_defined_as_counts():
    assert KPI_DEFINITIONS["tasks_cancelled"][1] == "count"
    assert KPI_DEFINITIONS["system_cancelled"][1] == "count"
    keys = list(KPI_DEFINITIONS)
    assert keys.index("system_cancelled") == keys.index("tasks_cancelled") + 1


@pytest.mark.parametrize("task, who", [
    (record("a", "go_to", "cancelled", "cancelled by request (by staff:mei)"), "staff:mei"),
    (record("b", "charge", "cancelled", "robot r1 fault: drive", "orchestrator"), "orchestrator"),
    (record("c", "charge", "cancelled", "not needed (by staff:ann)", "orchestrator"), "staff:ann"),
    (record("d", "go_to", "cancelled", "robot r1 fault: drive"), "orchestrator"),
    (record("e", "go_to", "cancelled", "cancelled by request (by orchestrator)"), "orchestrator"),
    (record("f", "go_to", "completed", "done"), None),
], ids=["staff_cancel", "dropped_charge", "staff_cancels_a_charge",
        "pinned_task_of_a_broken_robot", "orchestrator_named", "not_cancelled"])
def test_who_cancelled(task, who):
    assert cancelled_by(task) == who


def test_staff_and_system_cancellations_are_counted_apart():
    kpis = kpis_of(
        record("a", "go_to", "cancelled", "cancelled by request (by staff:mei)"),
        record("b", "meal_delivery", "cancelled", "lunch moved (by schedule:lunch)"),
        record("k1", "charge", "cancelled", "robot r1 fault: drive", "orchestrator"),
        record("k2", "charge", "cancelled", "robot r2 e-stop", "orchestrator"),
        record("k3", "charge", "completed", "charged", "orchestrator"),
        record("g", "go_to", "completed", "arrived"))
    assert (kpis["tasks_cancelled"], kpis["system_cancelled"]) == (2, 2)
    assert kpis["tasks_total"] == 6 and kpis["tasks_completed"] == 2


def test_the_cancel_row_of_the_history_is_what_counts():
    """A task's final ``reason`` may be overwritten; its history keeps who cancelled it."""
    task = record("a", "go_to", "cancelled", "cancelled by request (by staff:mei)")
    task["reason"] = ""
    assert cancelled_by(task) == "staff:mei"


def test_no_cancellations_are_zero_not_none():
    kpis = kpis_of(record("g", "go_to", "completed", "arrived"))
    assert (kpis["tasks_cancelled"], kpis["system_cancelled"]) == (0, 0)


EVENTS = ('  - {at: "08:00", kind: fall, room: room_203}\n',
          '  - {at: "07:05", kind: battery, robot: tray_1, level: 0.1}\n'
          '  - {at: "07:06", kind: robot_fault, robot: tray_1, error: drive failure}\n'
          '  - {at: "08:10", kind: submit, by: "staff:mei", id: linen, '
          'task: {kind: go_to, place: room_110}}\n'
          '  - {at: "08:10", kind: cancel, by: "staff:mei", task: linen}\n')


def test_a_run_counts_the_staff_cancel_and_the_dropped_charge_apart(write_scenario, runner):
    run = runner(write_scenario(EVENTS, ("{kpi: tasks_lost, max: 0}",
                                         "{kpi: tasks_cancelled, min: 1, max: 1}")))
    cancelled = {t["id"]: t for t in run.result.tasks if t["state"] == "cancelled"}
    charges = [t for t in cancelled.values() if t["kind"] == "charge"]
    assert "linen" in cancelled and charges, cancelled
    assert all(t["requested_by"] == "orchestrator" for t in charges)
    assert run.kpis["tasks_cancelled"] == 1
    assert run.kpis["system_cancelled"] == len(cancelled) - 1 >= 1
    assert all(passed for _, passed, _ in run.verdicts), run.verdicts
