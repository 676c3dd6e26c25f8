"""The simulator as a runtime: deterministic per seed, journal in a real store, restarts
from that store, scripted happenings (including mistakes) and progress reporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carefleet.orchestrator.store import TaskStore
from carefleet.simulation.report import report_document
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation

SCENARIOS_DIR = Path(load_scenario.__code__.co_filename).parent / "scenarios"
FALL = '{at: "08:00", kind: fall, room: room_203}'
WALL_CLOCK_FIELDS = ("wall_seconds", "generated_at", "written_at")


def document(run) -> str:
    doc = report_document(run.result, run.kpis, run.verdicts)
    for key in WALL_CLOCK_FIELDS:
        doc.pop(key, None)
    return json.dumps(doc, sort_keys=True)


def test_same_scenario_and_seed_give_identical_documents(runner):
    path = SCENARIOS_DIR / "demo_day.yaml"
    first, second = runner(path), runner(path)
    assert document(first) == document(second)
    assert first.result.tasks and first.result.notifications


def test_same_seed_identical_for_a_small_scenario_with_a_restart(runner, write_scenario):
    path = write_scenario((FALL, FALL + '\n  - {at: "07:33", kind: restart}'))
    assert document(runner(path)) == document(runner(path))


def test_a_different_seed_gives_a_different_run(runner, write_scenario):
    path = write_scenario()
    base = runner(path)
    other = runner(path, seed=base.scenario.seed + 1)
    assert other.result.seed == base.scenario.seed + 1
    assert document(base) != document(other)
    delivered = lambda run: [t["progress"].get("delivered_at") for t in run.result.tasks]  # noqa: E731
    assert delivered(base) != delivered(other)


def test_the_journal_is_in_a_real_sqlite_store(runner, write_scenario, tmp_path):
    db = tmp_path / "tasks.sqlite"
    run = runner(write_scenario(), db_path=db)
    assert db.exists()
    with TaskStore(db) as store:
        stored = {record["id"]: record for record in store.all_tasks()}
        assert set(stored) == {t["id"] for t in run.result.tasks}
        for task in run.result.tasks:
            assert stored[task["id"]]["state"] == task["state"]
            assert [list(row) for row in store.history(task["id"])] == task["history"]
        assert store.audit(), "the audit log is written too"
        assert store.open_tasks() == []


def test_a_restart_rebuilds_the_orchestrator_from_the_store(runner, write_scenario):
    # breakfast trips are under way at 07:33; the fall happens after the restart
    path = write_scenario((FALL, FALL + '\n  - {at: "07:33", kind: restart}'))
    run = runner(path)
    result = run.result
    assert result.restarts == 1 and result.lost_tasks == []
    assert [h.kind for h in result.happenings].count("restart") == 1
    resumed = [t for t in result.tasks
               if any(reason == "resumed after restart" for _, _, reason in t["history"])]
    assert resumed, "breakfast was open at the restart"
    assert all(t["state"] == "completed" for t in result.tasks)
    served = [room for t in result.tasks if t["kind"] == "meal_delivery"
              for room in t["progress"]["delivered"] + t["progress"]["missed"]]
    assert sorted(served) == [f"room_10{i}" for i in range(1, 7)]
    assert all(passed for _, passed, _ in run.verdicts)


def test_submit_and_cancel_happenings(runner, write_scenario):
    path = write_scenario((FALL, FALL + '\n  - {at: "09:00", kind: submit, by: "staff:ann", '
                                 'task: {kind: go_to, place: room_216}}'
                                 '\n  - {at: "09:00:05", kind: cancel, task: t00004, by: "staff:ann"}'))
    result = runner(path).result
    task = next(t for t in result.tasks if t["id"] == "t00004")
    assert task["kind"] == "go_to" and task["requested_by"] == "staff:ann"
    assert task["state"] == "cancelled"
    assert "staff:ann" in task["reason"]


def test_a_scripted_mistake_is_shown_and_the_run_goes_on(runner, write_scenario):
    path = write_scenario((FALL, FALL + '\n  - {at: "09:00", kind: cancel, task: t09999}'))
    run = runner(path)
    rejected = [h for h in run.result.happenings if h.kind == "rejected"]
    assert len(rejected) == 1 and "t09999" in rejected[0].text
    assert all(passed for _, passed, _ in run.verdicts)


def test_a_call_button_sends_a_robot_and_tells_staff(runner, write_scenario):
    path = write_scenario((FALL, FALL + '\n  - {at: "09:00", kind: call_button, room: room_114}'))
    result = runner(path).result
    assert any(n.key == "call_button" for n in result.notifications)
    go = [t for t in result.tasks if t["kind"] == "go_to"]
    assert len(go) == 1 and go[0]["state"] == "completed"


def test_a_repaired_robot_works_again(runner, write_scenario):
    path = write_scenario((FALL, '{at: "07:05", kind: robot_fault, robot: tray_2, '
                                 'error: wheel, repair_after: 600}'))
    result = runner(path).result
    keys = [n.key for n in result.notifications]
    assert "robot_fault" in keys and "robot_recovered" in keys
    tray_2 = next(r for r in result.robots if r.id == "tray_2")
    faults = [s for s in tray_2.segments if s.activity == "fault"]
    assert len(faults) == 1 and faults[0].end - faults[0].start == pytest.approx(600)
    assert all(t["state"] == "completed" for t in result.tasks)


def test_progress_runs_from_start_to_one(write_scenario):
    seen: list[float] = []
    simulation = Simulation(load_scenario(write_scenario()), progress=seen.append)
    try:
        simulation.run()
    finally:
        simulation.close()
    assert seen and seen[-1] == 1.0
    assert seen == sorted(seen) and all(0.0 <= f <= 1.0 for f in seen)


def test_close_removes_the_temporary_store(write_scenario):
    simulation = Simulation(load_scenario(write_scenario()))
    folder = simulation.db_path.parent
    simulation.run()
    assert simulation.db_path.exists()
    simulation.close()
    assert not folder.exists()


def test_the_run_stays_inside_its_time(runner, write_scenario):
    result = runner(write_scenario()).result
    assert result.end - result.start == 3 * 3600
    for robot in result.robots:
        assert robot.segments[-1].end == pytest.approx(result.end)
    for task in result.tasks:
        assert all(result.start <= at <= result.end for at, _, _ in task["history"])


def test_the_lift_closing_under_a_robot_on_its_way_does_not_crash_the_run(runner, write_scenario):
    path = write_scenario((FALL, '{at: "07:10", kind: submit, task: {kind: go_to, place: room_216}}'
                                 '\n  - {at: "07:10:05", kind: close, what: lift_a, duration: 600}'))
    result = runner(path).result
    go = next(t for t in result.tasks if t["kind"] == "go_to")
    assert go["state"] == "completed"
