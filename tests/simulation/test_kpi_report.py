"""KPIs and reports from a small hand-built run whose every figure is known in advance.

The run (ward time Asia/Shanghai, 07:00-09:00, two robots):

    r1  idle 07:00-07:30 | navigating 07:30-08:00 | await_pickup 08:00-08:30 | charging -09:00
    r2  idle 07:00-08:00 | navigating 08:00-08:15 | attend 08:15-08:30     | fault    -09:00

    utilisation: r1 5400 s + r2 1800 s working of 2 x 7200 s = 0.5

Meal m1 (slot 08:00, rooms a-e): a -5 min, b +10, c +30, d +50, e missed.
Falls: f1 reached after 150 s, f3 after 90 s, f2 never reached.
Failed: g1 (staff notified, reason with <script>), g2 (nobody told).
Cancelled: c1 by staff; k1, a charge the orchestrator dropped when r2 broke down.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from carefleet.maps import DEMO_WARD
from carefleet.simulation.kpi import (KPI_DEFINITIONS, compute_kpis, definitions_markdown,
                                      format_kpi_table, format_value, percentile)
from carefleet.simulation.report import task_summary, write_html, write_json
from carefleet.simulation.result import (Happening, Notification, RobotRecord, Segment,
                                         SimResult)

ZONE = ZoneInfo("Asia/Shanghai")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('x')</script>"


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, 2, hour, minute, tzinfo=ZONE).timestamp()


def task(id: str, kind: str, state: str, *, created: float, progress: dict | None = None,
         due: float | None = None, reason: str = "", finished: float | None = None,
         requested_by: str = "test") -> dict:
    history = [[created, "queued", "submitted"]]
    if finished is not None:
        history.append([finished, state, reason])
    return {"id": id, "kind": kind, "priority": "urgent" if kind == "fall_response" else "normal",
            "created_at": created, "requested_by": requested_by, "robot": None, "due": due,
            "state": state, "assigned_robot": "r2", "reason": reason, "attempts": 1,
            "failed_on": [], "finished_at": finished, "progress": progress or {},
            "history": history}


def fall(id: str, reached_after: float | None) -> dict:
    created = at(8)
    reached = None if reached_after is None else created + reached_after
    return task(id, "fall_response", "completed", created=created, finished=at(8, 30),
                progress={"room": "room_203", "source": "camera", "reached_at": reached,
                          "acknowledged_by": "nurse", "acknowledged_at": at(8, 30)})


def day(robot: str, model: str, plan: list[tuple[str, int, str | None]],
        **numbers: float) -> RobotRecord:
    """Consecutive segments from 07:00; ``plan`` is (activity, minutes, task id)."""
    segments, t = [], at(7)
    for activity, minutes, task_id in plan:
        segments.append(Segment(start=t, end=t + minutes * 60, activity=activity,
                                task_id=task_id, place="kitchen"))
        t += minutes * 60
    return RobotRecord(id=robot, model=model, segments=segments, **numbers)


def sample_result() -> SimResult:
    slot = at(8)
    meal = task("m1", "meal_delivery", "completed", created=at(7, 30), due=slot,
                finished=at(8, 40), reason="1 room did not pick up", progress={
                    "rooms": ["a", "b", "c", "d", "e"], "kitchen": "kitchen", "meal": "lunch",
                    "delivered": ["a", "b", "c", "d"], "missed": ["e"], "loaded": False,
                    "delivered_at": {"a": slot - 300, "b": slot + 600, "c": slot + 1800,
                                     "d": slot + 3000},
                    "pickup_timeout": 180})
    patrol = task("p1", "patrol", "completed", created=at(7), finished=at(8), progress={
        "checkpoints": ["x", "y", "z"], "rounds": 2, "until": None, "next_index": 0,
        "rounds_done": 2, "scans": 6})
    tasks = [meal, patrol, fall("f1", 150.0), fall("f2", None), fall("f3", 90.0),
             task("g1", "go_to", "failed", created=at(8, 20), finished=at(8, 35),
                  reason=f"drive failure {EVIL}", progress={"place": "lounge"}),
             task("g2", "go_to", "failed", created=at(8, 21), progress={"place": "lounge"}),
             task("c1", "go_to", "cancelled", created=at(8, 22), progress={"place": "lounge"},
                  requested_by="staff:ann", finished=at(8, 25),
                  reason="cancelled by request (by staff:ann)"),
             task("k1", "charge", "cancelled", created=at(8, 20), progress={"charger": None},
                  requested_by="orchestrator", finished=at(8, 30),
                  reason="robot r2 fault: drive failure")]
    robots = [
        day("r1", "MealBot", [("idle", 30, None), ("navigating", 30, "m1"),
                              ("await_pickup", 30, "m1"), ("charging", 30, None)],
            distance_m=1200.0, energy_wh=150.0, min_battery=0.4, final_battery=0.9),
        day("r2", "PatrolBot", [("idle", 60, None), ("navigating", 15, "f1"),
                                ("attend", 15, "f1"), ("fault", 30, None)],
            distance_m=800.0, energy_wh=50.0, min_battery=0.25, final_battery=0.3),
    ]
    return SimResult(
        scenario="two_robot_morning", source="scenarios/two_robot_morning.yaml",
        ward="Demo ward", ward_file=str(DEMO_WARD), timezone="Asia/Shanghai", seed=11,
        start=at(7), end=at(9), robots=robots, tasks=tasks,
        happenings=[Happening(at=at(8), kind="fall", text="fall room 203"),
                    Happening(at=at(8, 30), kind="fault", text="r2 drive failure"),
                    Happening(at=at(8, 40), kind="restart", text="restart")],
        notifications=[Notification(at=at(8), severity="urgent", key="fall",
                                    text="Fall in room 203", task_id="f1"),
                       Notification(at=at(8, 35), severity="warning", key="task_failed",
                                    text=f"go to lounge failed {EVIL}", task_id="g1")],
        restarts=1, lost_tasks=["x9"], wall_seconds=0.4)


VERDICTS = [("meals on time", False, "60% < 90% <b>"), ("no task lost", True, "0 lost")]


# -- KPIs -------------------------------------------------------------------------

def test_kpis_have_every_defined_key_in_order() -> None:
    assert list(compute_kpis(sample_result())) == list(KPI_DEFINITIONS)


def test_meal_kpis() -> None:
    kpis = compute_kpis(sample_result())
    assert (kpis["meals_total"], kpis["meals_delivered"], kpis["meals_missed"]) == (5, 4, 1)
    assert kpis["meals_on_time_share"] == pytest.approx(3 / 5)       # -5, +10, +30 of 5 rooms
    assert kpis["delivery_latency_mean_min"] == pytest.approx(21.25)  # (-5+10+30+50)/4
    assert kpis["delivery_latency_p95_min"] == pytest.approx(47.0)    # 30 + 0.85 * 20
    assert kpis["delivery_latency_max_min"] == pytest.approx(50.0)


@pytest.mark.parametrize(("window", "share"), [(10, 2 / 5), (29.9, 2 / 5), (60, 4 / 5)])
def test_on_time_share_follows_window(window: float, share: float) -> None:
    assert compute_kpis(sample_result(), on_time_window=window)["meals_on_time_share"] == \
        pytest.approx(share)


def test_meal_without_slot_is_measured_from_creation() -> None:
    result = sample_result()
    meal = result.tasks[0]
    meal["due"] = None
    meal["progress"]["delivered_at"] = {"a": meal["created_at"] + 120}
    assert compute_kpis(result)["delivery_latency_max_min"] == pytest.approx(2.0)


def test_patrol_fall_and_fleet_kpis() -> None:
    kpis = compute_kpis(sample_result())
    assert (kpis["patrol_rounds_done"], kpis["patrol_checkpoints_scanned"]) == (2, 6)
    assert kpis["falls"] == 3 and kpis["fall_unreached"] == 1
    assert kpis["fall_response_mean_s"] == pytest.approx(120.0)
    assert kpis["fall_response_max_s"] == pytest.approx(150.0)
    assert kpis["robot_utilisation"] == pytest.approx(0.5)
    assert kpis["distance_km"] == pytest.approx(2.0)
    assert kpis["energy_kwh"] == pytest.approx(0.2)
    assert kpis["min_battery"] == pytest.approx(0.25)


def test_task_kpis() -> None:
    kpis = compute_kpis(sample_result())
    assert {key: kpis[key] for key in ("tasks_total", "tasks_completed", "tasks_failed",
                                       "tasks_cancelled", "system_cancelled", "tasks_escalated",
                                       "tasks_lost")} == {
        "tasks_total": 9, "tasks_completed": 5, "tasks_failed": 2, "tasks_cancelled": 1,
        "system_cancelled": 1, "tasks_escalated": 1, "tasks_lost": 1}


def test_utilisation_clips_to_run_and_counts_gaps_as_not_working() -> None:
    result = sample_result()
    result.robots[0].segments = [Segment(start=at(6), end=at(7, 30), activity="navigating")]
    result.robots[1].segments = []
    assert compute_kpis(result)["robot_utilisation"] == pytest.approx(1800 / 14400)


def test_no_data_gives_none_not_zero() -> None:
    empty = SimResult(scenario="empty", source="", ward="w", ward_file="", timezone="UTC",
                      seed=0, start=0.0, end=3600.0, robots=[], tasks=[])
    kpis = compute_kpis(empty)
    for key in ("meals_on_time_share", "delivery_latency_mean_min", "delivery_latency_p95_min",
                "delivery_latency_max_min", "fall_response_mean_s", "fall_response_max_s",
                "robot_utilisation", "min_battery"):
        assert kpis[key] is None, key
    assert kpis["falls"] == 0 and kpis["meals_total"] == 0 and kpis["tasks_total"] == 0


def test_unreached_falls_only_give_none_times() -> None:
    result = sample_result()
    result.tasks = [fall("f2", None)]
    kpis = compute_kpis(result)
    assert kpis["falls"] == 1 and kpis["fall_unreached"] == 1
    assert kpis["fall_response_mean_s"] is None and kpis["fall_response_max_s"] is None


def test_percentile_matches_numpy_linear() -> None:
    values = [3.0, -1.0, 7.5, 2.0, 2.0, 11.0, 0.5]
    for q in (0, 50, 90, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([4.0], 95) == 4.0 and percentile([], 95) is None


def test_format_value_rounds_and_names_units() -> None:
    assert format_value("meals_on_time_share", 0.6) == "60.0 %"
    assert format_value("delivery_latency_mean_min", 21.25) == "21.2 min"
    assert format_value("fall_response_max_s", 150.4) == "150 s"
    assert format_value("distance_km", 2.0) == "2.00 km"
    assert format_value("meals_total", 5) == "5"
    assert format_value("fall_response_mean_s", None) == "n/a"


def test_kpi_table_is_aligned_and_complete() -> None:
    kpis = compute_kpis(sample_result())
    kpis["fall_response_mean_s"] = None
    table = format_kpi_table(kpis)
    lines = table.splitlines()
    assert len(lines) == len(KPI_DEFINITIONS)
    for line, (key, (label, _, _)) in zip(lines, KPI_DEFINITIONS.items()):
        assert line.startswith(label)
        assert format_value(key, kpis[key]).split(" ")[0] in line
    assert "Meals on time" in table and "60.0 %" in table and "47.0 min" in table
    assert "Fall response, mean" in table and "n/a" in table
    number_ends = {len(line) - len(line.rsplit(" ", 1)[1]) - 1 if line.endswith(
        ("%", "min", "s", "km", "kWh")) else len(line) for line in lines}
    assert len(number_ends) == 1, table


def test_definitions_markdown_lists_every_key() -> None:
    text = definitions_markdown()
    assert all(f"`{key}`" in text for key in KPI_DEFINITIONS)


# -- HTML -------------------------------------------------------------------------

class _Page(HTMLParser):
    """Collects what the assertions need: images, badges, table rows, title, open tags."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.badges: list[str] = []
        self.rows: list[list[str]] = []
        self.title = ""
        self.stack: list[str] = []
        self.mismatched: list[str] = []
        self.external: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag in ("script", "link") or (tag != "img" and attributes.get("src")):
            self.external.append(tag)
        if tag == "span" and "badge" in (attributes.get("class") or ""):
            self._in = "badge"
        if tag == "tr":
            self.rows.append([])
        if tag == "td":
            self.rows[-1].append("")
        if tag == "title":
            self._in = "title"

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.mismatched.append(tag)
        if tag in ("span", "title"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "badge":
            self.badges.append(data)
        elif self._in == "title":
            self.title += data
        if self.stack and self.stack[-1] in ("td", "span") and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, _Page]:
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = sample_result()
    written = write_html(result, compute_kpis(result), VERDICTS, path)
    text = written.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    return text, page


def test_html_is_well_formed_and_self_contained(html_report: tuple[str, _Page]) -> None:
    text, page = html_report
    assert text.startswith("<!DOCTYPE html>")
    assert page.stack == [] and page.mismatched == []
    assert page.external == []
    assert "two_robot_morning" in page.title and "2026-03-02" in page.title


def test_html_images_are_png_data_uris(html_report: tuple[str, _Page]) -> None:
    _, page = html_report
    assert len(page.images) == 3                  # timeline, meal chart, ward map
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):], validate=True).startswith(PNG_SIGNATURE)


def test_html_verdict_badge_and_expectations(html_report: tuple[str, _Page]) -> None:
    _, page = html_report
    assert page.badges[0] == "FAIL"              # overall, in the title line
    assert page.badges[1:3] == ["FAIL", "PASS"]  # one per expectation
    assert ["FAIL", "meals on time", "60% < 90% <b>"] in page.rows


def test_html_escapes_task_and_notification_text(html_report: tuple[str, _Page]) -> None:
    text, page = html_report
    assert "<script>" not in text
    assert "drive failure &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    failed = next(row for row in page.rows if row and row[0] == "g1")
    assert failed == ["g1", "go to", "go to lounge", "normal", "failed",
                      f"drive failure {EVIL}", "r2", "08:20", "08:35"]
    assert any(row[:1] == ["08:35"] and f"go to lounge failed {EVIL}" in row for row in page.rows)


def test_html_has_kpi_and_task_tables(html_report: tuple[str, _Page]) -> None:
    _, page = html_report
    assert ["Meals on time", "60.0 %", KPI_DEFINITIONS["meals_on_time_share"][2]] in page.rows
    meal = next(row for row in page.rows if row and row[0] == "m1")
    assert meal[2] == "lunch to a, b, c, d, e" and meal[7:] == ["07:30", "08:40"]


def test_html_passes_and_survives_a_broken_ward_map(tmp_path: Path) -> None:
    result = sample_result()
    result.ward_file = str(tmp_path / "missing_ward.yaml")
    path = write_html(result, compute_kpis(result), [("ok", True, "")], tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "could not be drawn" in text and 'class="badge pass">PASS<' in text
    assert text.count("data:image/png;base64,") == 2


def test_html_of_an_empty_run_says_so(tmp_path: Path) -> None:
    empty = SimResult(scenario="empty", source="", ward="w", ward_file="", timezone="UTC",
                      seed=0, start=0.0, end=3600.0, robots=[], tasks=[])
    text = write_html(empty, compute_kpis(empty), [], tmp_path / "r.html").read_text()
    assert "No robot time to show." in text and "sets no expectations" in text
    assert 'class="badge pass">PASS<' in text and "data:image/png" not in text


def test_task_summary_uses_the_task_types_wording() -> None:
    tasks = {record["id"]: record for record in sample_result().tasks}
    assert task_summary(tasks["f1"]) == "fall in room_203"
    assert task_summary(tasks["p1"]) == "patrol of 3 checkpoints, 2 round(s)"
    assert task_summary({"id": "q", "kind": "teleport", "progress": {}}) == "teleport"


# -- JSON and atomic writing ------------------------------------------------------

def test_json_round_trips(tmp_path: Path) -> None:
    result = sample_result()
    kpis = compute_kpis(result)
    document = json.loads(write_json(result, kpis, VERDICTS, tmp_path / "r.json").read_text())
    assert {"scenario", "ward", "seed", "start", "end", "kpis", "expectations", "robots",
            "tasks", "notifications"} <= document.keys()
    assert document["scenario"] == "two_robot_morning" and document["seed"] == 11
    assert document["kpis"] == kpis
    assert document["expectations"][0] == {"name": "meals on time", "passed": False,
                                           "detail": "60% < 90% <b>"}
    assert [robot["id"] for robot in document["robots"]] == ["r1", "r2"]
    assert document["robots"][0]["segments"][1]["activity"] == "navigating"
    assert [t["id"] for t in document["tasks"]] == [t["id"] for t in result.tasks]
    assert document["notifications"][1]["task_id"] == "g1"
    assert document["passed"] is False


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    result = sample_result()
    write_json(result, compute_kpis(result), VERDICTS, tmp_path / "r.json")
    write_json(result, compute_kpis(result), VERDICTS, tmp_path / "r.json")
    assert os.listdir(tmp_path) == ["r.json"]

