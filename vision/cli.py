"""``carefleet vision watch`` and ``carefleet vision eval``.

Handlers return an exit code; every ``CareFleetError`` they raise is printed by
``carefleet.cli`` as one line (exit 2). ``watch`` exits

- 0 when every source was watched to its end (corrupt frames are skipped, and how many
  is said on stderr, one line per camera);
- 1 (``EXIT_SOURCE_FAILED``) when a source failed: it could not be opened (with
  others given), a stream stopped delivering, or a file ended early (truncated). The
  failure is one line on stderr naming the camera and the source, and the other
  cameras keep running to their end;
- 2 on bad input, or when the only source given cannot be opened.

``eval`` reports a clip it cannot read to the end (cut short, or ending before its
labelled fall) as UNREADABLE, one line naming it, and leaves it out of every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from carefleet.errors import InputError, SourceError
from carefleet.files import write_atomically
from carefleet.vision.config import CameraConfig, default_config, load_camera_config
from carefleet.vision.detector import Detector
from carefleet.vision.evaluate import (GROUPINGS, ClipResult, HeldOut, Summary, evaluate,
                                      group_of, hold_out, load_labels, summarise, summarise_by)
from carefleet.vision.events import FallEvent
from carefleet.vision.sources import open_source
from carefleet.vision.watch import watch

EXIT_SOURCE_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    vision = subparsers.add_parser("vision", help="fall recognition on camera streams")
    commands = vision.add_subparsers(dest="vision_command", metavar="COMMAND", required=True)

    w = commands.add_parser("watch", help="print fall events from cameras as they happen")
    w.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="video file, camera index (0) or rtsp://, http:// URL; several "
                        "sources are watched together")
    w.add_argument("--camera-id", action="append", default=None,
                   help="id of each source, in order (default: file stem or source)")
    w.add_argument("--config", type=Path, help="camera configuration YAML")
    w.add_argument("--json", action="store_true", help="one JSON object per line")
    w.set_defaults(func=_watch)

    e = commands.add_parser("eval", help="evaluate on labelled clips")
    e.add_argument("directory", type=Path, metavar="DIR")
    e.add_argument("--labels", type=Path, required=True,
                   help="CSV with columns file,label,fall_start_frame")
    e.add_argument("--config", type=Path, help="camera configuration YAML")
    e.add_argument("--backend", choices=("opencv", "pose", "auto"),
                   help="override the configured backend")
    e.add_argument("--group-by", action="append", default=None, metavar="KEY",
                   help="also report the figures per group: dataset (the first folder, or "
                        "a dataset column), room (a room column, --room, or the public "
                        "datasets' naming) or any labels column; default: dataset")
    e.add_argument("--holdout", action="append", choices=GROUPINGS, default=[],
                   help="leave-one-dataset-out or leave-one-room-out: the figures on each "
                        "group with nothing fitted on it")
    e.add_argument("--room", action="append", default=[], metavar="GLOB=ROOM",
                   help="clips whose file matches GLOB were filmed in ROOM (repeatable)")
    e.add_argument("--json", type=Path, dest="json_path", help="write the figures here")
    e.add_argument("--report", type=Path, help="write an HTML report here")
    e.set_defaults(func=_eval)


def _config(args: argparse.Namespace) -> CameraConfig:
    config = load_camera_config(args.config) if args.config else default_config()
    if getattr(args, "backend", None):
        config = replace(config, backend=args.backend)
    return config


def _watch(args: argparse.Namespace) -> int:
    config = _config(args)
    ids = args.camera_id or []
    if len(ids) > len(args.sources):
        raise InputError("--camera-id", f"{len(ids)} ids for {len(args.sources)} sources")
    sources, unopened = {}, 0
    for i, name in enumerate(args.sources):
        camera_id = ids[i] if i < len(ids) else (config.camera_id or _default_id(name))
        try:
            sources[camera_id] = open_source(name)
        except SourceError as error:
            if len(args.sources) == 1:
                raise
            print(f"carefleet: camera {camera_id} skipped: {error}", file=sys.stderr)
            unopened += 1
    if not sources:
        raise SourceError("no camera could be opened")

    def show(event: FallEvent) -> None:
        if args.json:
            print(json.dumps(event.to_dict()), flush=True)
        else:
            print(f"{event.t:9.2f} s  {event.camera_id}: {event.kind.value} "
                  f"(confidence {event.confidence:.2f}, box {event.box})", flush=True)

    def failed(camera_id: str, error: SourceError) -> None:
        print(f"carefleet: camera {camera_id}: {error}", file=sys.stderr)

    dropped = watch(sources, Detector(config), on_event=show, on_failure=failed)
    for camera_id, source in sources.items():
        skipped = getattr(source, "skipped", 0)
        if skipped:
            print(f"carefleet: camera {camera_id}: {source.name}: skipped {skipped} corrupt "
                  f"frame{'' if skipped == 1 else 's'}", file=sys.stderr)
    return EXIT_SOURCE_FAILED if dropped or unopened else 0


def _default_id(source: str) -> str:
    return Path(source).stem if "://" not in source else source


def _eval(args: argparse.Namespace) -> int:
    config = _config(args)
    clips = load_labels(args.labels)
    if not args.directory.is_dir():
        raise InputError(str(args.directory), "not a directory")
    rooms = tuple(_room_rule(rule) for rule in args.room)
    keys = list(dict.fromkeys((args.group_by or ["dataset"]) + args.holdout))

    def progress(i: int, total: int, result: ClipResult) -> None:
        print(f"[{i}/{total}] {_clip_line(result)}", file=sys.stderr, flush=True)

    results = evaluate(args.directory, clips, config, keep_trace=bool(args.report),
                       progress=progress)
    summary = summarise(results)
    for result in results:
        print(_clip_line(result))
    print(f"sensitivity {summary.sensitivity:.3f} ({summary.true_positives}/{summary.falls})  "
          f"specificity {summary.specificity:.3f} "
          f"({summary.adls - summary.false_positives}/{summary.adls})  "
          f"precision {summary.precision:.3f}")
    print(f"latency median {_seconds(summary.latency_s_median)}, "
          f"max {_seconds(summary.latency_s_max)}  "
          f"false alarms {summary.false_alarms_per_hour:.1f}/h of ADL "
          f"({summary.adl_hours * 60:.1f} min)")
    if summary.unreadable:
        print(f"{summary.unreadable} unreadable clip{'' if summary.unreadable == 1 else 's'} "
              "left out of these figures")
    groups = {key: summarise_by(results, key, rooms) for key in keys}
    for key in keys:
        print(f"\nper {key}:")
        for line in _group_table(groups[key]):
            print(line)
    folds = {key: hold_out(results, key, rooms) for key in args.holdout}
    for key, held in folds.items():
        print(f"\nleave-one-{key}-out ({_fitted_note(held)}):")
        for line in _group_table({f.group: f.summary for f in held}):
            print(line)
        print(_worst(key, held))
    if args.json_path:
        figures = summary.as_dict() | {
            "backend": config.backend,
            "groups": {key: {name: s.as_dict() for name, s in table.items()}
                       for key, table in groups.items()},
            "holdout": {key: [_fold_json(f) for f in held] for key, held in folds.items()},
            "clips": [_clip_json(r, rooms) for r in results]}
        write_atomically(args.json_path, json.dumps(figures, indent=2).encode("utf-8"))
    if args.report:
        from carefleet.vision.report import write_report  # matplotlib only when asked

        command = " ".join(["carefleet"] + sys.argv[1:]) if sys.argv else "carefleet vision eval"
        write_report(args.report, results, summary, config, command, groups=groups,
                     holdout={key: {f.group: f.summary for f in held}
                              for key, held in folds.items()})
    return 0


def _room_rule(rule: str) -> tuple[str, str]:
    glob, sep, room = rule.partition("=")
    if not sep or not glob.strip() or not room.strip():
        raise InputError("--room", f"expected GLOB=ROOM, got '{rule}'")
    return glob.strip(), room.strip()


def _group_table(table: dict[str, Summary]) -> list[str]:
    lines = [f"  {'group':24s} {'sensitivity':>17s} {'specificity':>17s} {'latency med/max':>17s}"]
    for name, s in table.items():
        sens = f"{s.sensitivity:.3f} ({s.true_positives}/{s.falls})" if s.falls else "n/a"
        spec = (f"{s.specificity:.3f} ({s.adls - s.false_positives}/{s.adls})"
                if s.adls else "n/a")
        latency = (f"{s.latency_s_median:.2f}/{s.latency_s_max:.2f} s"
                   if s.latency_s_median is not None else "n/a")
        lines.append(f"  {name:24s} {sens:>17s} {spec:>17s} {latency:>17s}")
    return lines


def _worst(key: str, held: list[HeldOut]) -> str:
    """The acceptance figure: the lowest sensitivity and specificity over held-out groups."""
    sens = [f.summary.sensitivity for f in held if f.summary.falls]
    spec = [f.summary.specificity for f in held if f.summary.adls]
    return (f"worst held-out {key}: sensitivity {min(sens):.3f}" if sens else
            f"worst held-out {key}: sensitivity n/a") + (
        f", specificity {min(spec):.3f}" if spec else ", specificity n/a")


def _fitted_note(held: list[HeldOut]) -> str:
    if all(f.fitted_on == 0 for f in held):
        return ("nothing is fitted: thresholds are fixed in the configuration, so each "
                "held-out figure is that group's own")
    return "refitted without each held-out group"


def _fold_json(fold: HeldOut) -> dict[str, object]:
    return {"group": fold.group, "clips": fold.clips, "fitted_on": fold.fitted_on,
            **fold.summary.as_dict()}


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _clip_line(result: ClipResult) -> str:
    if result.unreadable is not None:
        return f"UNREADABLE {result.clip.label:4s} {result.clip.file}: {result.unreadable}"
    verdict = "ok   " if result.correct else "WRONG"
    found = ", ".join(f"{t:.2f}" for t in result.detections) or "-"
    latency = "" if result.latency_s is None else f"  latency {result.latency_s:.2f} s"
    return f"{verdict} {result.clip.label:4s} {result.clip.file}  falls at [{found}] s{latency}"


def _clip_json(result: ClipResult, rooms: tuple[tuple[str, str], ...] = ()) -> dict[str, object]:
    return {"file": result.clip.file, "label": result.clip.label, "correct": result.correct,
            "dataset": group_of(result.clip, "dataset"),
            "room": group_of(result.clip, "room", rooms),
            "detections_s": [round(t, 3) for t in result.detections],
            "latency_s": None if result.latency_s is None else round(result.latency_s, 3),
            "false_alarms": result.false_alarms, "duration_s": round(result.duration_s, 3),
            "unreadable": result.unreadable, "skipped_frames": result.skipped_frames,
            "events": [e.to_dict() for e in result.events]}
