"""The bundled scenarios: each runs, meets every expectation it states, and shows the
behaviour its description promises (read back from the run's result)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from carefleet.simulation.scenario import load_scenario

SCENARIOS_DIR = Path(load_scenario.__code__.co_filename).parent / "scenarios"
BUNDLED = sorted(SCENARIOS_DIR.glob("*.yaml"))


def bundled(name: str) -> Path:
    path = SCENARIOS_DIR / f"{name}.yaml"
    assert path.exists(), path
    return path


def clock(result, hour: int, minute: int = 0) -> float:
    """Epoch seconds of a wall-clock time on the run's first day, in the ward's zone."""
    zone = ZoneInfo(result.timezone)
    day = datetime.fromtimestamp(result.start, zone).date()
    return datetime.combine(day, time(hour, minute), zone).timestamp()


def tasks_of(result, kind: str) -> list[dict]:
    return [task for task in result.tasks if task["kind"] == kind]


def first_active_robot(task: dict) -> str | None:
    for _, state, reason in task["history"]:
        if state == "active":
            return reason.removeprefix("started by ").strip()
    return None


def test_the_folder_holds_the_scenarios_the_docs_name():
    names = {path.stem for path in BUNDLED}
    assert {"demo_day", "normal_day", "fall_during_lunch", "robot_dies_mid_trip",
            "closed_corridor", "low_battery", "restart_midday"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_meets_all_its_expectations(path, bundled_run):
    run = bundled_run(path)
    assert run.scenario.expectations, "a bundled scenario should state what it expects"
    failed = [(name, detail) for name, passed, detail in run.verdicts if not passed]
    assert failed == []
    result = run.result
    assert result.tasks, "a bundled day does some work"
    assert result.lost_tasks == []
    # every segment of every robot lies inside the run and they tile its day in order
    for robot in result.robots:
        assert robot.segments, robot.id
        for before, after in zip(robot.segments, robot.segments[1:]):
            assert before.end == pytest.approx(after.start), robot.id
        assert robot.segments[0].start >= result.start
        assert robot.segments[-1].end <= result.end + 1e-6
        assert 0.0 <= robot.min_battery <= robot.final_battery + 1e-9 <= 1.0 + 1e-9


def test_fall_during_lunch_pauses_a_meal_trip_and_resumes_it(bundled_run):
    result = bundled_run(bundled("fall_during_lunch")).result
    falls = tasks_of(result, "fall_response")
    assert len(falls) == 1
    fall = falls[0]
    assert fall["progress"]["room"] == "room_209"
    assert fall["state"] == "completed"
    reached, acknowledged = fall["progress"]["reached_at"], fall["progress"]["acknowledged_at"]
    assert reached is not None and acknowledged is not None
    assert fall["created_at"] <= reached < acknowledged

    paused = [task for task in tasks_of(result, "meal_delivery")
              if any(state != "completed" and "paused for fall_response" in reason
                     for _, state, reason in task["history"])]
    assert paused, "a meal trip must have been paused for the fall"
    for task in paused:
        pause_at = next(at for at, _, reason in task["history"]
                        if "paused for fall_response" in reason)
        assert task["state"] == "completed"
        assert task["finished_at"] > pause_at
        assert pause_at <= reached   # it was paused so the robot could go to the fall
        # the paused trip resumed on the robot that answered the fall
        assert task["assigned_robot"] == fall["assigned_robot"]


def test_robot_dies_mid_trip_hands_its_trip_to_the_other_robot(bundled_run):
    result = bundled_run(bundled("robot_dies_mid_trip")).result
    handed_over = [task for task in tasks_of(result, "meal_delivery")
                   if first_active_robot(task) == "tray_2"
                   and task["state"] == "completed" and task["assigned_robot"] == "tray_1"]
    fault_at = clock(result, 12, 6)
    assert any(task["created_at"] <= fault_at <= task["finished_at"] for task in handed_over), \
        "the lunch trip tray_2 was on at 12:06 must be finished by tray_1"
    faults = [n for n in result.notifications if n.key == "robot_fault"]
    assert faults and any("tray_2" in n.text for n in faults)
    # tray_2 never works again: nothing started by it after the fault
    for task in result.tasks:
        for at, state, reason in task["history"]:
            if at > fault_at and state == "active":
                assert "tray_2" not in reason, task["id"]
    tray_2 = next(r for r in result.robots if r.id == "tray_2")
    assert tray_2.segments[-1].activity == "fault"


def test_closed_corridor_delivers_everything_and_records_the_closures(bundled_run):
    run = bundled_run(bundled("closed_corridor"))
    result = run.result
    meals = tasks_of(result, "meal_delivery")
    rooms = sum(len(t["progress"]["rooms"]) for t in meals)
    delivered = sum(len(t["progress"]["delivered"]) + len(t["progress"]["missed"]) for t in meals)
    assert rooms == 3 * 32 and delivered == rooms   # every tray offered (a few not taken)
    assert all(t["state"] == "completed" for t in meals)
    assert not [t["id"] for t in result.tasks if t["state"] in ("failed", "cancelled")]
    closures = [h for h in result.happenings if h.kind == "closure"]
    texts = [h.text for h in closures]
    assert any("east_corridor_f1" in t and "closed" in t for t in texts)
    assert any("east_corridor_f1" in t and "open" in t for t in texts)
    assert any("lift_a" in t and "closed" in t for t in texts)
    closed_at = next(h.at for h in closures if "east_corridor_f1" in h.text and "closed" in h.text)
    reopened = next(h.at for h in closures if "east_corridor_f1" in h.text and "open" in h.text)
    assert closed_at == clock(result, 11, 30) and reopened == closed_at + 7200
    # lunch falls inside the closure and is still all offered
    lunch = [t for t in meals if t["progress"]["meal"] == "lunch"]
    assert sum(len(t["progress"]["delivered"]) for t in lunch) >= 30


def test_low_battery_charges_tray_1_and_holds_owl_1s_patrol(bundled_run):
    result = bundled_run(bundled("low_battery")).result
    low = [n for n in result.notifications if n.key == "robot_low_battery"]
    assert any("tray_1" in n.text for n in low)
    tray_1 = next(r for r in result.robots if r.id == "tray_1")
    found_at = clock(result, 11, 58)
    assert any(s.activity == "charging" and s.start >= found_at for s in tray_1.segments)
    # lunch still served, by tray_2 alone while tray_1 charges
    lunch = [t for t in tasks_of(result, "meal_delivery") if t["progress"]["meal"] == "lunch"]
    assert lunch and all(t["state"] == "completed" for t in lunch)

    owl = next(r for r in result.robots if r.id == "owl_1")
    assert owl.segments[-1].activity == "fault"
    assert owl.final_battery == 0.0
    assert any(n.key == "robot_fault" and "owl_1" in n.text for n in result.notifications)
    night = [t for t in tasks_of(result, "patrol") if t["created_at"] >= clock(result, 22)]
    assert night, "the night patrol was created"
    assert any(t["state"] == "queued" for t in night), "the patrol waits for owl_1"
    assert not [t for t in result.tasks if t["state"] == "failed"]
    assert result.lost_tasks == []


def test_restart_midday_loses_nothing_and_serves_no_room_twice(bundled_run):
    result = bundled_run(bundled("restart_midday")).result
    assert result.restarts == 2
    assert result.lost_tasks == []
    assert [h.at for h in result.happenings if h.kind == "restart"] == [
        clock(result, 12, 9), clock(result, 23)]
    meals = tasks_of(result, "meal_delivery")
    for meal in ("breakfast", "lunch", "dinner"):
        served = Counter(room for t in meals if t["progress"]["meal"] == meal
                         for room in t["progress"]["delivered"] + t["progress"]["missed"])
        twice = [room for room, count in served.items() if count > 1]
        assert twice == [], f"{meal}: served twice {twice}"
        assert len(served) == 32, meal
    resumed = [t for t in result.tasks
               if any(reason == "resumed after restart" for _, _, reason in t["history"])]
    resumed_meals = [t for t in resumed if t["kind"] == "meal_delivery"]
    assert resumed_meals, "lunch was under way at the 12:09 restart"
    assert all(t["state"] == "completed" for t in resumed_meals)
    # a trip already loaded and under way when the orchestrator died is still finished once
    assert any(first_active_robot(t) and
               next(at for at, s, _ in t["history"] if s == "active") < clock(result, 12, 9)
               for t in resumed_meals)
    # every task that existed at a restart is still in the store afterwards
    assert not [t for t in result.tasks if t["state"] == "failed"]
