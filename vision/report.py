"""The HTML evaluation report: why each clip fired or missed, without showing anyone.

Per clip: the verdict, a plot of the features the fall machine reads (with the
thresholds, the labelled fall start and the events), and strips of silhouette
thumbnails around each event (or around the labelled fall start when it missed).
Thumbnails are the person's mask, never pixels of the frame (privacy by default).
A clip that could not be read to its end is listed as UNREADABLE with the reason, and
is not in the figures (the summary table counts it).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from carefleet.files import write_atomically  # noqa: E402
from carefleet.vision.config import CameraConfig  # noqa: E402
from carefleet.vision.evaluate import ClipResult, Summary  # noqa: E402

#: Thumbnails per strip, and the time they span around the event.
STRIP_FRAMES = 8
STRIP_BEFORE_S, STRIP_AFTER_S = 2.0, 1.0


def write_report(path: str | Path, results: list[ClipResult], summary: Summary,
                 config: CameraConfig, command: str, *,
                 groups: dict[str, dict[str, Summary]] | None = None,
                 holdout: dict[str, dict[str, Summary]] | None = None) -> None:
    """Write one self-contained HTML file (images inline).

    ``groups`` (per grouping key, per group) and ``holdout`` (per key, the held-out
    figures of each group) add tables after the pooled figures.
    """
    tables = [_group_table(f"per {key}", table) for key, table in (groups or {}).items()]
    tables += [_group_table(f"leave-one-{key}-out (nothing fitted: each group's own figures)",
                            table) for key, table in (holdout or {}).items()]
    parts = ["<!doctype html><meta charset='utf-8'><title>CareFleet fall evaluation</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "td,th{padding:2px 8px}.bad{color:#b00}.ok{color:#070}"
             "img.sil{background:#000;margin:1px}</style>",
             "<h1>Fall evaluation</h1>", f"<p><code>{html.escape(command)}</code></p>",
             _summary_table(summary), *tables]
    for result in results:
        parts.append(_clip_section(result, config))
    write_atomically(path, "\n".join(parts).encode("utf-8"))


def _summary_table(summary: Summary) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>"
                   for k, v in summary.as_dict().items())
    return f"<table>{rows}</table>"


def _group_table(title: str, table: dict[str, Summary]) -> str:
    head = ("<tr><th>group</th><th>falls found</th><th>sensitivity</th><th>ADL quiet</th>"
            "<th>specificity</th><th>latency median / max (s)</th></tr>")
    rows = []
    for name, s in table.items():
        latency = ("n/a" if s.latency_s_median is None
                   else f"{s.latency_s_median:.2f} / {s.latency_s_max:.2f}")
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{s.true_positives}/{s.falls}</td>"
                    f"<td>{s.sensitivity:.3f}</td><td>{s.adls - s.false_positives}/{s.adls}"
                    f"</td><td>{s.specificity:.3f}</td><td>{latency}</td></tr>")
    return f"<h3>{html.escape(title)}</h3><table>{head}{''.join(rows)}</table>"


def _clip_section(result: ClipResult, config: CameraConfig) -> str:
    if result.unreadable is not None:
        return (f"<h2 class='bad'>{html.escape(result.clip.file)} - {result.clip.label}: "
                f"UNREADABLE</h2><p>{html.escape(result.unreadable)}; left out of the "
                "figures.</p>")
    verdict = "ok" if result.correct else "bad"
    events = ", ".join(f"{e.kind.value} at {e.t:.2f} s ({e.confidence:.2f})"
                       for e in result.events) or "no events"
    latency = "" if result.latency_s is None else f", latency {result.latency_s:.2f} s"
    head = (f"<h2 class='{verdict}'>{html.escape(result.clip.file)} - {result.clip.label}: "
            f"{'correct' if result.correct else 'WRONG'}</h2><p>{html.escape(events)}{latency}</p>")
    plot = f"<img src='data:image/png;base64,{_plot(result, config)}'>" if result.trace else ""
    return head + plot + "".join(_strip(result, t, title) for t, title in _moments(result))


def _moments(result: ClipResult) -> list[tuple[float, str]]:
    """Where to look: each event, or the labelled start of a missed fall."""
    moments = [(e.t, e.kind.value) for e in result.events]
    if not moments and result.fall_start_s is not None:
        moments.append((result.fall_start_s + 1.0, "labelled fall (+1 s), missed"))
    return moments


def _strip(result: ClipResult, t: float, title: str) -> str:
    times = np.linspace(t - STRIP_BEFORE_S, t + STRIP_AFTER_S, STRIP_FRAMES)
    stamps = np.array([f.t for f in result.trace])
    if not len(stamps):
        return ""
    cells = []
    for when in times:
        i = int(np.abs(stamps - when).argmin())
        mask = result.silhouettes[i]
        if mask is None:
            cells.append(f"<span title='{when:.1f} s'>[nobody]</span>")
            continue
        ok, png = cv2.imencode(".png", mask)
        cells.append(f"<img class='sil' title='{stamps[i]:.2f} s {result.states[i]}' "
                     f"src='data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}'>")
    return f"<p>{html.escape(title)} at {t:.2f} s:<br>{''.join(cells)}</p>"


def _plot(result: ClipResult, config: CameraConfig) -> str:
    f, s = result.trace, config.fall
    t = [x.t for x in f]
    series = {
        "height / upright": ([x.height_ratio if x.present else np.nan for x in f],
                             [s.down_height_ratio, s.recover_height_ratio]),
        "width / height": ([x.aspect if x.present else np.nan for x in f], [s.lying_aspect]),
        "drop (body heights)": ([x.drop for x in f], [s.min_descent]),
        "drop speed (heights/s)": ([x.drop_speed for x in f], [s.min_descent_speed]),
        "motion": ([x.motion for x in f], [s.still_motion]),
    }
    fig, axes = plt.subplots(len(series) + 1, 1, figsize=(10, 7), sharex=True)
    for ax, (name, (values, limits)) in zip(axes, series.items()):
        ax.plot(t, values, lw=1)
        for limit in limits:
            ax.axhline(limit, color="grey", ls=":", lw=1)
        ax.set_ylabel(name, fontsize=7, rotation=0, ha="right")
    states = ["upright", "descending", "down", "still", "alarm"]
    axes[-1].step(t, [states.index(v) for v in result.states], where="post", lw=1)
    axes[-1].set_yticks(range(len(states)), states, fontsize=7)
    for ax in axes:
        if result.fall_start_s is not None:
            ax.axvline(result.fall_start_s, color="orange", lw=1)
        for event in result.events:
            ax.axvline(event.t, color="red" if event.kind.value != "recovered" else "green",
                       lw=1)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=70)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()
