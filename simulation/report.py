"""Reports of a simulated day: one self-contained HTML page for people, JSON for machines.

The HTML page is what a tester attaches to a bug and what a care-home manager opens
to see "how did the robots do today": the verdict first, then the figures, then each
robot's day as a timeline with the scripted happenings (falls, faults, restarts)
marked, then every task and every message staff received. It carries its pictures
as base64 PNGs and its style inline, so it can be mailed or archived as one file
and opened offline, years later.

Both writers replace the target atomically (temporary file in the same folder, then
``os.replace``): a crash or a full disk never leaves a half-written report that a CI
job would then publish as if it were complete.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # before pyplot: never try to open a window

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402

from carefleet.files import write_atomically  # noqa: E402
from carefleet.messages import DEFAULT_LANGUAGE, catalogue, render  # noqa: E402
from carefleet.orchestrator.alerts import STAGES  # noqa: E402
from carefleet.simulation.kpi import (KPI_DEFINITIONS, NOT_WORKING, Kpis,  # noqa: E402
                                      delivery_latencies, format_value, kpi_label, kpi_meaning,
                                      robot_utilisation)
from carefleet.simulation.result import Happening, Segment, SimResult  # noqa: E402

CJK_FONT = "Noto Sans CJK SC"
"""Drawn where DejaVu Sans has no glyph (Chinese labels; Debian's fonts-noto-cjk)."""


def _with_cjk_fallback() -> None:
    """Charts fall back glyph by glyph from DejaVu Sans to a CJK font, so the Chinese
    report's labels are text, not boxes. A font cache made before the font was installed
    does not list it: it is then added from the system's font folders."""
    from matplotlib import font_manager

    if CJK_FONT not in {font.name for font in font_manager.fontManager.ttflist}:
        for path in sorted(Path("/usr/share/fonts").glob("**/NotoSansCJK-*.tt[cf]")):
            font_manager.fontManager.addfont(str(path))
    if CJK_FONT in {font.name for font in font_manager.fontManager.ttflist}:
        matplotlib.rcParams["font.family"] = ["DejaVu Sans", CJK_FONT]


_with_cjk_fallback()

Verdicts = Sequence[tuple[str, bool, str]]
"""(expectation name, passed, detail) as the scenario's expectations judged them."""
Say = Callable[..., str]
"""``say(key, **params)``: a text of the report book in the report's language."""


def words(language: str = DEFAULT_LANGUAGE) -> Say:
    """The report's texts in ``language`` (``carefleet/strings/report``)."""
    catalogue(language, "report")              # refuse an unknown language up front
    return lambda key, **params: render(key, params, language, "report")


def _known(say: Say, key: str, fallback: str) -> str:
    """``key`` in the book, or ``fallback`` (a value from data the book has no word for)."""
    try:
        return say(key)
    except KeyError:
        return fallback

#: activity -> colour, in legend order: work first, then rest, then trouble (the words
#: are the report book's ``activity.<name>``).
ACTIVITIES: dict[str, str] = {
    "navigating": "#4e79a7", "load_trays": "#f28e2b", "await_pickup": "#edc948",
    "scan": "#76b7b2", "attend": "#e15759", "charging": "#59a14f", "idle": "#e4e4e4",
    "offline": "#7f7f7f", "fault": "#1a1a1a", "emergency_stop": "#b0006a",
}
UNKNOWN_ACTIVITY_COLOUR = "#c9a0dc"

#: happening kind -> marker colour; anything else is drawn in grey.
HAPPENING_COLOURS = {"fall": "#d62728", "camera": "#e377c2", "missed": "#8c564b",
                     "fault": "#1a1a1a", "restart": "#6a3d9a", "closure": "#ff7f0e",
                     "device": "#17becf"}
HAPPENING_DEFAULT_COLOUR = "#555555"
DPI = 110
ROBOT_NUDGE_M = 1.5
"""Sideways step between robots parked at the same place, so each marker stays visible."""


# -- public API ---------------------------------------------------------------

def write_html(result: SimResult, kpis: Kpis, verdicts: Verdicts, path: str | Path, *,
               on_time_window: float = 30.0, language: str = DEFAULT_LANGUAGE) -> Path:
    """Write the one-file HTML report; ``on_time_window`` (min) is drawn on the meal chart."""
    page = render_html(result, kpis, verdicts, on_time_window=on_time_window, language=language)
    return write_atomically(Path(path), page.encode("utf-8"))


def write_json(result: SimResult, kpis: Kpis, verdicts: Verdicts, path: str | Path) -> Path:
    """Write the machine-readable report (see ``report_document``)."""
    text = json.dumps(report_document(result, kpis, verdicts), indent=2, ensure_ascii=False)
    return write_atomically(Path(path), (text + "\n").encode("utf-8"))


def report_document(result: SimResult, kpis: Kpis, verdicts: Verdicts) -> dict[str, Any]:
    """Everything in the report as plain JSON-able data, times as epoch seconds."""
    return {
        "scenario": result.scenario, "source": result.source, "ward": result.ward,
        "timezone": result.timezone, "seed": result.seed,
        "start": result.start, "end": result.end,
        "passed": overall_passed(verdicts),
        "kpis": dict(kpis),
        "expectations": [{"name": name, "passed": passed, "detail": detail}
                         for name, passed, detail in verdicts],
        "robots": [asdict(robot) for robot in result.robots],
        "tasks": result.tasks,
        "happenings": [asdict(happening) for happening in result.happenings],
        "notifications": [asdict(note) for note in result.notifications],
        "restarts": result.restarts, "lost_tasks": list(result.lost_tasks),
        "devices": result.devices,
    }


def overall_passed(verdicts: Verdicts) -> bool:
    """A run passes when every expectation holds (a run with none passes vacuously)."""
    return all(passed for _, passed, _ in verdicts)


def render_html(result: SimResult, kpis: Kpis, verdicts: Verdicts, *,
                on_time_window: float = 30.0, language: str = DEFAULT_LANGUAGE) -> str:
    """The whole report page as a string, in ``language``."""
    clock, say = Clock(result), words(language)
    sections = [
        _header(result, verdicts, clock, say),
        _expectations_section(verdicts, say),
        _kpi_section(kpis, language, say),
        _timeline_section(result, say),
        _meal_section(result, on_time_window, say),
        _robots_section(result, say),
        _ward_section(result, say),
        _devices_section(result, clock, say),
        _tasks_section(result, clock, say),
        _notifications_section(result, clock, say),
    ]
    title = say("title", scenario=result.scenario, ward=result.ward, date=clock.date(result.start))
    lang = "zh-CN" if language == "zh" else language
    return (f"<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(section for section in sections if section)
            + "\n</body>\n</html>\n")


# -- time -------------------------------------------------------------------------

class Clock:
    """Shows epoch seconds as ward-local clock time, with the date when it is not the run's."""

    def __init__(self, result: SimResult) -> None:
        self.zone = ZoneInfo(result.timezone)
        self.first_day = self.local(result.start).date()

    def local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, tz=self.zone)

    def date(self, at: float) -> str:
        return self.local(at).strftime("%Y-%m-%d")

    def time(self, at: float | None) -> str:
        if at is None:
            return ""
        moment = self.local(at)
        if moment.date() != self.first_day:
            return moment.strftime("%m-%d %H:%M")
        return moment.strftime("%H:%M")


def _to_num(at: float) -> float:
    """Epoch seconds as a matplotlib date number (the formatter adds the ward's zone)."""
    return float(mdates.date2num(datetime.fromtimestamp(at, tz=UTC)))


# -- pictures ---------------------------------------------------------------------

def timeline_png(result: SimResult, say: Say | None = None) -> bytes:
    """One row per robot over the run, coloured by activity, happenings as labelled lines.

    Bars of one task carry a short tag above them ("lunch", "patrol", "fall room 203")
    so a reader sees *why* a robot was driving, not only that it was.
    """
    say = say or words()
    levels = _label_levels(result)
    height = 1.2 + 0.6 * len(result.robots) + 0.17 * (max(levels, default=-1) + 1)
    figure, ax = plt.subplots(figsize=(14, height))
    _draw_segments(ax, result)
    _draw_task_tags(ax, result, say)
    _style_time_axis(ax, result)
    _draw_happenings(ax, result, levels)
    _timeline_legend(ax, result, say)
    ax.set_title(say("day.chart_title", scenario=result.scenario,
                     date=Clock(result).date(result.start), zone=result.timezone), loc="left",
                 fontsize=11, pad=14 + 12 * (max(levels, default=-1) + 1))
    return _png(figure)


def _draw_segments(ax: Axes, result: SimResult) -> None:
    for row, robot in enumerate(result.robots):
        by_activity: dict[str, list[tuple[float, float]]] = {}
        for segment in robot.segments:
            start, end = max(segment.start, result.start), min(segment.end, result.end)
            if end > start:
                x0 = _to_num(start)
                by_activity.setdefault(segment.activity, []).append((x0, _to_num(end) - x0))
        for activity, spans in by_activity.items():
            ax.broken_barh(spans, (row - 0.28, 0.56), facecolors=_activity_colour(activity),
                           edgecolor="none")
    ax.set_yticks(range(len(result.robots)),
                  [f"{robot.id}\n{robot.model}" for robot in result.robots], fontsize=9)
    ax.set_ylim(len(result.robots) - 0.5, -0.5)   # first robot on top


def _activity_colour(activity: str) -> str:
    return ACTIVITIES.get(activity, UNKNOWN_ACTIVITY_COLOUR)


def _draw_task_tags(ax: Axes, result: SimResult, say: Say) -> None:
    """A short tag over each stretch a robot spent on one task, unless it would overlap."""
    records = {task.get("id"): task for task in result.tasks}
    seconds_per_char = _seconds_per_char(result) * 0.9     # tags are a little smaller
    for row, robot in enumerate(result.robots):
        free_from = result.start
        for task_id, start, end in _task_stretches(robot.segments):
            start, end = max(start, result.start), min(end, result.end)
            tag = task_tag(records.get(task_id), task_id, say)
            half = (len(tag) + 1) * seconds_per_char / 2
            middle = (start + end) / 2
            if end <= start or middle - half < free_from or middle + half > result.end:
                continue
            free_from = middle + half
            ax.plot([_to_num(start), _to_num(end)], [row - 0.3] * 2, color="#666666", lw=0.8,
                    solid_capstyle="butt")
            ax.text(_to_num(middle), row - 0.32, tag, fontsize=7.5, ha="center", va="bottom",
                    color="#333333")


def _task_stretches(segments: Iterable[Segment]) -> list[tuple[str, float, float]]:
    """(task id, start, end) of each run of consecutive segments working on one task.

    Idle time breaks a stretch even when it carries a task id (a robot holding a task
    that is not due yet), so tags name only the work the bars show.
    """
    stretches: list[tuple[str, float, float]] = []
    previous: str | None = None          # task the previous segment worked on, if any
    for segment in segments:
        task_id = None if segment.activity in NOT_WORKING else segment.task_id
        if task_id is not None and task_id == previous:
            stretches[-1] = (task_id, stretches[-1][1], segment.end)
        elif task_id is not None:
            stretches.append((task_id, segment.start, segment.end))
        previous = task_id
    return stretches


def task_tag(record: dict[str, Any] | None, task_id: str, say: Say | None = None) -> str:
    """A few words naming a task on the timeline: the meal, "patrol", "fall room 203"."""
    if record is None:
        return task_id
    say = say or words()
    kind, progress = record.get("kind", ""), record.get("progress", {})
    if kind == "meal_delivery":
        return progress.get("meal") or say("tag.meal")
    if kind == "fall_response":
        return say("tag.fall", room=progress.get("room", "").replace("_", " ")).strip()
    return _known(say, f"kind.{kind}", kind.replace("_", " "))


def _style_time_axis(ax: Axes, result: SimResult) -> None:
    zone = ZoneInfo(result.timezone)
    ax.set_xlim(_to_num(result.start), _to_num(result.end))
    hours = max((result.end - result.start) / 3600.0, 1e-9)
    if hours <= 3:
        ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=[0, 30], tz=zone))
    else:
        step = next((s for s in (1, 2, 3, 4, 6) if hours / s <= 13), 12)
        ax.xaxis.set_major_locator(mdates.HourLocator(interval=step, tz=zone))
        ax.xaxis.set_minor_locator(mdates.HourLocator(tz=zone))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    ax.grid(axis="x", which="major", color="#bbbbbb", lw=0.6)
    ax.grid(axis="x", which="minor", color="#eeeeee", lw=0.4)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


_CHARS_ACROSS = 170.0
"""About how many 8-pt characters fit across the timeline (for label placement)."""


def _seconds_per_char(result: SimResult) -> float:
    return max(result.end - result.start, 1.0) / _CHARS_ACROSS


def _label_levels(result: SimResult) -> list[int]:
    """Stack happening labels in levels so that close ones do not print over each other."""
    seconds_per_char = _seconds_per_char(result)
    ends: list[float] = []
    levels = []
    for happening in _sorted_happenings(result):
        left, right = _label_extent(result, happening, seconds_per_char)
        level = next((i for i, end in enumerate(ends) if end <= left), len(ends))
        if level == len(ends):
            ends.append(right)
        ends[level] = right
        levels.append(level)
    return levels


def _label_extent(result: SimResult, happening: Happening,
                  seconds_per_char: float) -> tuple[float, float]:
    """Time span a happening's label covers: right of its line, or left near the end."""
    width = (len(happening.text) + 2) * seconds_per_char
    if _label_to_left(result, happening):
        return happening.at - width, happening.at
    return happening.at, happening.at + width


def _label_to_left(result: SimResult, happening: Happening) -> bool:
    return happening.at > result.end - (result.end - result.start) * 0.15


def _sorted_happenings(result: SimResult) -> list[Happening]:
    return sorted((h for h in result.happenings if result.start <= h.at <= result.end),
                  key=lambda h: h.at)


def _draw_happenings(ax: Axes, result: SimResult, levels: list[int]) -> None:
    for happening, level in zip(_sorted_happenings(result), levels):
        x = _to_num(happening.at)
        colour = HAPPENING_COLOURS.get(happening.kind, HAPPENING_DEFAULT_COLOUR)
        left = _label_to_left(result, happening)
        ax.axvline(x, color=colour, lw=1.3, ls="--", zorder=4)
        ax.annotate(happening.text, xy=(x, -0.5), xycoords="data",
                    xytext=(-2 if left else 2, 4 + 12 * level), textcoords="offset points",
                    fontsize=8, color=colour, fontweight="bold", va="bottom",
                    ha="right" if left else "left", annotation_clip=False)


def _timeline_legend(ax: Axes, result: SimResult, say: Say) -> None:
    present = {s.activity for robot in result.robots for s in robot.segments}
    ordered = [a for a in ACTIVITIES if a in present] + sorted(present - ACTIVITIES.keys())
    handles = [Patch(facecolor=_activity_colour(a), edgecolor="#999999",
                     label=_known(say, f"activity.{a}", a.replace("_", " "))) for a in ordered]
    if handles:
        below_ticks = ScaledTranslation(0, -0.3, ax.figure.dpi_scale_trans)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0),
                  bbox_transform=ax.transAxes + below_ticks, ncol=min(len(handles), 5),
                  fontsize=8.5, frameon=False)


def meal_latency_png(result: SimResult, on_time_window: float,
                     say: Say | None = None) -> bytes | None:
    """Latency of every delivered tray, one column per meal service; None without meals."""
    services = _meal_services(result)
    if not services:
        return None
    say = say or words()
    clock = Clock(result)
    figure, ax = plt.subplots(figsize=(min(3 + 1.6 * len(services), 12), 3.6))
    for column, (_, _, latencies, _) in enumerate(services):
        colours = ["#59a14f" if m <= on_time_window else "#e15759" for m in latencies]
        ax.scatter(_spread(column, len(latencies)), latencies, c=colours, s=22,
                   edgecolors="black", linewidths=0.3, zorder=3)
    ax.axhline(0, color="#888888", lw=0.8)
    ax.axhline(on_time_window, color="#e15759", lw=1, ls="--",
               label=say("meals.limit", minutes=f"{on_time_window:g}"))
    ax.set_xticks(range(len(services)),
                  [_service_label(clock, say, *service) for service in services], fontsize=8.5)
    ax.set_xlim(-0.6, len(services) - 0.4)
    ax.set_ylabel(say("meals.axis"), fontsize=9)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    ax.grid(axis="y", color="#eeeeee")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(figure)


def _service_label(clock: Clock, say: Say, slot: float, meal: str, latencies: list[float],
                   missed: int) -> str:
    label = (say("meals.service", meal=meal or say("meals.meal"), time=clock.time(slot))
             + "\n" + say("meals.taken", n=len(latencies)))
    return label + (", " + say("meals.missed", n=missed) if missed else "")


def _meal_services(result: SimResult) -> list[tuple[float, str, list[float], int]]:
    """(slot, meal, latencies in minutes, rooms missed) per meal service, by slot.

    A service is every meal task with the same slot and meal, whichever robot took it.
    """
    latencies: dict[tuple[float, str], list[float]] = {}
    missed: dict[tuple[float, str], int] = {}
    for task in result.tasks:
        if task.get("kind") != "meal_delivery":
            continue
        slot = task.get("due") if task.get("due") is not None else task["created_at"]
        service = (slot, task["progress"].get("meal", ""))
        latencies.setdefault(service, []).extend(delivery_latencies(task).values())
        missed[service] = missed.get(service, 0) + len(task["progress"].get("missed", []))
    return [(slot, meal, sorted(latencies[(slot, meal)]), missed[(slot, meal)])
            for slot, meal in sorted(latencies)]


def _spread(column: int, count: int) -> list[float]:
    """Deterministic horizontal spread of a column's points so equal values stay visible."""
    if count <= 1:
        return [float(column)] * count
    return [column - 0.3 + 0.6 * i / (count - 1) for i in range(count)]


def ward_png(result: SimResult) -> bytes:
    """The ward map with each robot where its last recorded place was."""
    from carefleet.maps import load_ward           # late: only the report needs the map
    from carefleet.maps.render import render_ward_png

    ward = load_ward(_ward_path(result))
    robots: dict[str, tuple[str, float, float]] = {}
    sharing: dict[str, int] = {}           # robots already drawn at a place
    for robot in result.robots:
        place = next((s.place for s in reversed(robot.segments) if s.place in ward.places), None)
        if place is not None:
            spot, nth = ward.places[place], sharing.get(place, 0)
            robots[robot.id] = (spot.floor, spot.x + ROBOT_NUDGE_M * nth, spot.y)
            sharing[place] = nth + 1
    return render_ward_png(ward, robots=robots)


def _ward_path(result: SimResult) -> Path:
    """The ward file as named, or relative to the scenario file that named it."""
    path = Path(result.ward_file)
    if path.is_absolute() or path.exists() or not result.source:
        return path
    return Path(result.source).parent / path


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()


# -- HTML sections ----------------------------------------------------------------

def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str = "") -> str:
    """A table from already-escaped cells (callers escape; some cells carry markup)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                     for row in rows)
    opening = f"<table class=\"{css}\">" if css else "<table>"
    return f"{opening}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _badge(passed: bool, say: Say) -> str:
    css = "pass" if passed else "fail"
    return f"<span class=\"badge {css}\">{_e(say(css))}</span>"


def _header(result: SimResult, verdicts: Verdicts, clock: Clock, say: Say) -> str:
    facts = [(say("fact.source"), result.source),
             (say("fact.ward"), f"{result.ward} ({result.ward_file})"),
             (say("fact.run"), f"{clock.date(result.start)} {clock.time(result.start)} – "
                               f"{clock.time(result.end)} {result.timezone}"),
             (say("fact.seed"), result.seed), (say("fact.restarts"), result.restarts),
             (say("fact.simulated"), say("seconds", n=f"{result.wall_seconds:.1f}"))]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return (f"<header><h1>{_badge(overall_passed(verdicts), say)} {_e(result.scenario)}</h1>\n"
            f"<p class=\"sub\">{_e(result.ward)} · {_e(clock.date(result.start))}</p>\n"
            f"<dl>{rows}</dl></header>")


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>\n{body}</section>"


def _note(text: str) -> str:
    return f"<p class=\"note\">{_e(text)}</p>"


def _expectations_section(verdicts: Verdicts, say: Say) -> str:
    if not verdicts:
        return _section(say("expectations"), _note(say("expectations.none")))
    rows = [(_badge(passed, say), _e(name), _e(detail)) for name, passed, detail in verdicts]
    return _section(say("expectations"),
                    _table(("", _e(say("col.expectation")), _e(say("col.detail"))), rows))


def _kpi_section(kpis: Kpis, language: str, say: Say) -> str:
    rows = [(_e(kpi_label(key, language)), _e(format_value(key, kpis[key], language)),
             _e(kpi_meaning(key, language))) for key in KPI_DEFINITIONS if key in kpis]
    headers = (_e(say("col.figure")), _e(say("col.value")), _e(say("col.meaning")))
    return _section(say("figures"), _table(headers, rows, "kpi"))


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt=\"{_e(alt)}\" src=\"data:image/png;base64,{data}\">"


def _figure_section(title: str, png: bytes, caption: str) -> str:
    return _section(title, f"<figure>{_image(png, title)}"
                           f"<figcaption>{_e(caption)}</figcaption></figure>")


def _timeline_section(result: SimResult, say: Say) -> str:
    if not result.robots or result.end <= result.start:
        return _section(say("day"), _note(say("day.none")))
    return _figure_section(say("day"), timeline_png(result, say), say("day.caption"))


def _meal_section(result: SimResult, on_time_window: float, say: Say) -> str:
    png = meal_latency_png(result, on_time_window, say)
    if png is None:
        return ""
    return _figure_section(say("meals"), png, say("meals.caption"))


def _robots_section(result: SimResult, say: Say) -> str:
    rows = []
    for index, robot in enumerate(result.robots):
        share = robot_utilisation(result, index)
        rows.append((_e(robot.id), _e(robot.model), _e(f"{robot.distance_m / 1000:.2f} km"),
                     _e(f"{robot.energy_wh / 1000:.2f} kWh"),
                     _e(say("not_available") if share is None else f"{share * 100:.1f} %"),
                     _e(f"{robot.min_battery * 100:.0f} %"),
                     _e(f"{robot.final_battery * 100:.0f} %")))
    headers = [_e(say(f"col.{name}")) for name in ("robot", "model", "distance", "energy",
                                                   "utilisation", "lowest_battery",
                                                   "final_battery")]
    return _section(say("robots"), _table(headers, rows))


def _ward_section(result: SimResult, say: Say) -> str:
    try:
        png = ward_png(result)
    except Exception as error:  # noqa: BLE001 - a map problem must not cost the whole report
        return _section(say("map"), _note(say("map.failed",
                                              error=f"{type(error).__name__}: {error}")))
    return _figure_section(say("map"), png, say("map.caption"))


def task_summary(record: dict[str, Any]) -> str:
    """The task type's own one-line summary, computed from the record's fields.

    Summaries only read fields, so the type's ``summary`` runs on a plain namespace;
    this keeps the report's wording identical to the dashboard's without rebuilding
    (and registering state machines for) every finished task.
    """
    from carefleet.tasks.requests import TASK_TYPES   # late: the core is not needed for KPIs

    cls = TASK_TYPES.get(record.get("kind", ""))
    fields = SimpleNamespace(**{**record.get("progress", {}), "id": record.get("id"),
                                "kind": record.get("kind")})
    try:
        return cls.summary(fields) if cls is not None else str(record.get("kind", ""))
    except AttributeError:         # an older record without a field the summary reads
        return str(record.get("kind", ""))


def _devices_section(result: SimResult, clock: Clock, say: Say) -> str:
    """The ward devices' night: each device's health, every event (accepted with the
    rules it fired, or refused with why), and how fast staff answered the alerts."""
    devices = result.devices
    if devices is None:
        return ""
    health = _table((_e(say("col.device")), _e(say("col.health"))), (
        (_e(d), f"<span class=\"health {_e(h)}\">{_e(_known(say, f'health.{h}', str(h)))}</span>")
        for d, h in sorted(devices["devices"].items())))
    rows = []
    for event in devices["events"]:
        if event["accepted"]:
            verdict = _e(_known(say, f"health.{event['health']}", event["health"])
                         if event.get("health") else say("device.accepted"))
            what = ", ".join(event.get("fired", [])) or ", ".join(event.get("suppressed", []))
        else:
            verdict = f"<span class=\"bad\">{_e(say('device.refused', reason=event.get('refused')))}</span>"
            what = event.get("detail", "")
        rows.append((_e(clock.time(event["at"])), _e(event["device"]), _e(event["kind"] or ""),
                     _e(event.get("room") or ""), verdict, _e(what)))
    headers = [_e(say(f"col.{name}")) for name in ("time", "device", "event", "room", "verdict",
                                                   "rules")]
    events = _table(headers, rows)
    refusals = ", ".join(f"{reason} x{n}" for reason, n in sorted(devices["refusals"].items()))
    response = []
    for priority, stages in devices["alert_response"].items():
        if not stages["count"]:
            continue
        response.append((_e(_known(say, f"priority.{priority}", priority)), str(stages["count"]),
                         *(_seconds(stages[stage], say) for stage in STAGES)))
    answers = _table((_e(say("col.priority")), _e(say("col.alerts")),
                      *(_e(say("col.stage", stage=say(f"stage.{stage}"))) for stage in STAGES)),
                     response)
    return _section(say("devices"), health + f"<h3>{_e(say('devices.events'))}</h3>" + events
                    + _note(say("devices.refused", list=refusals or say("none")))
                    + f"<h3>{_e(say('devices.response'))}</h3>" + answers)


def _seconds(figures: dict[str, Any], say: Say) -> str:
    if not figures["count"]:
        return "–"
    return f"{_span(figures['median_s'], say)} / {_span(figures['max_s'], say)}"


def _span(seconds: float, say: Say) -> str:
    if seconds >= 90:
        return _e(say("minutes", n=f"{seconds / 60:.1f}"))
    return _e(say("seconds", n=f"{seconds:.0f}"))


def _task_row(task: dict[str, Any], clock: Clock, say: Say) -> tuple[str, ...]:
    kind, state, priority = (str(task.get(k)) for k in ("kind", "state", "priority"))
    return (_e(task.get("id")), _e(_known(say, f"kind.{kind}", kind)), _e(task_summary(task)),
            _e(_known(say, f"priority.{priority}", priority)),
            f"<span class=\"state {_e(state)}\">{_e(_known(say, f'state.{state}', state))}</span>",
            _e(task.get("reason")), _e(task.get("assigned_robot") or task.get("robot")),
            _e(clock.time(task.get("created_at"))), _e(clock.time(task.get("finished_at"))))


def _tasks_section(result: SimResult, clock: Clock, say: Say) -> str:
    rows = [_task_row(t, clock, say)
            for t in sorted(result.tasks, key=lambda t: (t.get("created_at", 0), t.get("id", "")))]
    headers = [_e(say(f"col.{name}")) for name in ("id", "kind", "summary", "priority", "state",
                                                   "reason", "robot", "created", "finished")]
    lost = ""
    if result.lost_tasks:
        lost = (f"<p class=\"note bad\">"
                f"{_e(say('tasks.lost', ids=', '.join(result.lost_tasks)))}</p>")
    return _section(say("tasks"), lost + _table(headers, rows, "tasks"))


def _notifications_section(result: SimResult, clock: Clock, say: Say) -> str:
    if not result.notifications:
        return _section(say("notifications"), _note(say("notifications.none")))
    rows = [(_e(clock.time(n.at)),
             f"<span class=\"sev {_e(n.severity)}\">"
             f"{_e(_known(say, f'severity.{n.severity}', n.severity))}</span>",
             _e(n.key), _e(n.text), _e(n.task_id))
            for n in sorted(result.notifications, key=lambda n: n.at)]
    headers = [_e(say(f"col.{name}")) for name in ("time", "severity", "key", "message", "task")]
    return _section(say("notifications"), _table(headers, rows))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1300px;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.2rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem;margin-top:2rem}
.sub{color:#666;margin:0 0 .8rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;font-size:.9rem}
dt{color:#666}dd{margin:0}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:.3rem;color:#fff;
font-weight:700;font-size:.85em;letter-spacing:.05em;vertical-align:middle}
.badge.pass{background:#2e7d32}.badge.fail{background:#c62828}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f6f6f6}
.kpi td:nth-child(2){white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums}
.kpi td:nth-child(3){color:#555}
.state.completed{color:#2e7d32}.state.failed{color:#c62828;font-weight:700}
.state.cancelled{color:#888}
.health.silent,.health.offline,.health.battery_low{color:#c62828;font-weight:700}
.sev.critical,.sev.urgent,.sev.error{color:#c62828;font-weight:700}
.sev.warning{color:#b26a00}
.note{color:#666;font-style:italic}.bad{color:#c62828}
figure{margin:0}img{max-width:100%;height:auto}figcaption{color:#666;font-size:.85rem}
"""


# -- writing ----------------------------------------------------------------------
