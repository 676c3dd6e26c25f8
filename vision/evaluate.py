"""Event-level evaluation on labelled real footage (``carefleet vision eval``).

A labels CSV has the columns ``file,label,fall_start_frame`` (more are allowed):
``label`` is ``fall`` or ``adl``, ``fall_start_frame`` is the 0-based frame where the
fall begins, or empty when unknown. A clip counts as detected when the detector raised
``fall_detected`` at least once; on a fall clip with a known start, a detection more than
``EARLY_TOLERANCE_S`` before that start was about something else and counts as a false
alarm instead.

A clip that cannot be read to its end (the file is cut short, so it ends well before
the frame count in its header; it cannot be decoded at all; or it ends before its
labelled fall start) is *unreadable*: it is reported with the reason and left out of
every figure, and ``Summary.unreadable`` counts it. Scoring it would turn a damaged
file into a missed fall. A frame here and there that cannot be decoded is skipped
(``ClipResult.skipped_frames``) and the clip is scored.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from carefleet.errors import InputError, SourceError
from carefleet.files import read_text
from carefleet.vision.config import CameraConfig
from carefleet.vision.detector import Detector
from carefleet.vision.events import EventKind, FallEvent
from carefleet.vision.features import Features
from carefleet.vision.sources import FALLBACK_FPS, open_source

LABELS = ("fall", "adl")
EARLY_TOLERANCE_S = 1.0
#: Width of the silhouette thumbnails kept for the report (masks only, never frames).
THUMBNAIL_WIDTH = 64


@dataclass(frozen=True, slots=True)
class LabelledClip:
    file: str
    label: str
    fall_start_frame: int | None
    line: int
    columns: tuple[tuple[str, str], ...] = ()
    """Every other column of the row (``dataset``, ``room``, ...), for grouping."""

    def column(self, name: str) -> str:
        """The value of another column of the labels row ('' when absent or empty)."""
        return dict(self.columns).get(name, "")


@dataclass(slots=True)
class ClipResult:
    clip: LabelledClip
    fps: float
    duration_s: float
    events: list[FallEvent]
    trace: list[Features] = field(default_factory=list)
    """Per processed frame, when kept: the features..."""
    states: list[str] = field(default_factory=list)
    """... the fall machine's state after that frame ..."""
    silhouettes: list[np.ndarray | None] = field(default_factory=list)
    """... and a small silhouette of the person (None when nobody was found)."""
    unreadable: str | None = None
    """Why the clip could not be read to its end (then it is not scored), else None."""
    skipped_frames: int = 0
    """Frames that could not be decoded and were skipped."""

    @property
    def fall_start_s(self) -> float | None:
        start = self.clip.fall_start_frame
        return None if start is None else start / self.fps

    @property
    def detections(self) -> list[float]:
        return [e.t for e in self.events if e.kind is EventKind.FALL_DETECTED]

    @property
    def true_detections(self) -> list[float]:
        if self.clip.label != "fall":
            return []
        start = self.fall_start_s
        return [t for t in self.detections if start is None or t >= start - EARLY_TOLERANCE_S]

    @property
    def false_alarms(self) -> int:
        return len(self.detections) - len(self.true_detections)

    @property
    def detected(self) -> bool:
        return bool(self.detections if self.clip.label == "adl" else self.true_detections)

    @property
    def correct(self) -> bool | None:
        """Whether the detector got the clip right; None for an unreadable clip."""
        if self.unreadable is not None:
            return None
        return self.detected == (self.clip.label == "fall")

    @property
    def latency_s(self) -> float | None:
        start = self.fall_start_s
        if start is None or not self.true_detections:
            return None
        return self.true_detections[0] - start


def load_labels(path: str | Path) -> list[LabelledClip]:
    """Read the labels CSV; any bad row is an ``InputError`` naming the file and line."""
    path = Path(path)
    text = read_text(path, "labels file")
    reader = csv.DictReader(text.splitlines())
    missing = {"file", "label", "fall_start_frame"} - set(reader.fieldnames or ())
    if missing:
        raise InputError(str(path), f"missing column(s): {', '.join(sorted(missing))} "
                         "(expected file,label,fall_start_frame)", line=1)
    clips = []
    try:
        for row in reader:
            line = reader.line_num
            clips.append(_clip(str(path), row, line))
    except csv.Error as exc:
        raise InputError(str(path), f"malformed CSV: {exc}", line=reader.line_num) from None
    if not clips:
        raise InputError(str(path), "no clips listed")
    return clips


def _clip(source: str, row: dict[str, str | None], line: int) -> LabelledClip:
    file = (row.get("file") or "").strip()
    label = (row.get("label") or "").strip()
    start = (row.get("fall_start_frame") or "").strip()
    if not file:
        raise InputError(source, "empty file name", field="file", line=line)
    if label not in LABELS:
        raise InputError(source, f"label '{label}' is not one of: fall, adl", field="label",
                         line=line)
    if start and (not start.isdigit()):
        raise InputError(source, f"expected a frame number or nothing, got '{start}'",
                         field="fall_start_frame", line=line)
    if start and label == "adl":
        raise InputError(source, "an adl clip has no fall start", field="fall_start_frame",
                         line=line)
    columns = tuple((key, (value or "").strip()) for key, value in row.items()
                    if key is not None and key not in ("file", "label", "fall_start_frame")
                    and isinstance(value, str))
    return LabelledClip(file=file, label=label, fall_start_frame=int(start) if start else None,
                        line=line, columns=columns)


def evaluate_clip(directory: str | Path, clip: LabelledClip, config: CameraConfig,
                  *, keep_trace: bool = False) -> ClipResult:
    """Run a fresh detector over one clip (at the config's processing rate).

    A missing file is a ``SourceError`` (most likely a typo in the labels); a clip that
    is there but cannot be read to its end comes back with ``unreadable`` set.
    """
    path = Path(directory) / clip.file
    try:
        source = open_source(str(path))
    except SourceError as error:
        if not path.is_file():
            raise
        return ClipResult(clip=clip, fps=FALLBACK_FPS, duration_s=0.0, events=[],
                          unreadable=_reason(error, str(path)))
    detector = Detector(config)
    camera_id = Path(clip.file).stem
    result = ClipResult(clip=clip, fps=source.fps,
                        duration_s=source.frame_count / source.fps, events=[])
    try:
        for frame, t in source.frames(max_fps=config.fps):
            result.events += detector.process(camera_id, frame, t)
            if keep_trace:
                camera = detector.camera(camera_id)
                if camera.last_t == t:  # this frame was processed, not skipped
                    result.trace.append(camera.features)
                    result.states.append(camera.state.value)
                    result.silhouettes.append(_thumbnail(camera.silhouette))
    except SourceError as error:
        result.unreadable = _reason(error, source.name)
    result.skipped_frames = source.skipped
    start = clip.fall_start_frame
    if result.unreadable is None and start is not None and start >= source.reached:
        result.unreadable = (f"ends at frame {source.reached}, before the labelled fall "
                             f"start (frame {start})")
    return result


def _reason(error: SourceError, name: str) -> str:
    """The error without the file name in front (the clip is named beside it)."""
    text = str(error)
    return text[len(name) + 2:] if text.startswith(f"{name}: ") else text


def _thumbnail(mask: np.ndarray | None) -> np.ndarray | None:
    if mask is None:
        return None
    height = max(1, round(mask.shape[0] * THUMBNAIL_WIDTH / mask.shape[1]))
    return cv2.resize(mask, (THUMBNAIL_WIDTH, height), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures the acceptance criteria are stated in."""

    falls: int
    adls: int
    true_positives: int
    false_positives: int
    sensitivity: float
    specificity: float
    precision: float
    latency_s_median: float | None
    latency_s_max: float | None
    false_alarms_per_hour: float
    adl_hours: float
    unreadable: int = 0
    """Clips that could not be read to their end, left out of every figure above."""

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def summarise(results: list[ClipResult]) -> Summary:
    """The figures over the readable clips; unreadable ones are only counted."""
    readable = [r for r in results if r.unreadable is None]
    falls = [r for r in readable if r.clip.label == "fall"]
    adls = [r for r in readable if r.clip.label == "adl"]
    tp = sum(r.detected for r in falls)
    fp = sum(r.detected for r in adls)
    latencies = [r.latency_s for r in falls if r.latency_s is not None]
    adl_hours = sum(r.duration_s for r in adls) / 3600
    alarms = sum(r.false_alarms for r in readable)
    return Summary(
        falls=len(falls), adls=len(adls), true_positives=tp, false_positives=fp,
        sensitivity=_ratio(tp, len(falls)), specificity=_ratio(len(adls) - fp, len(adls)),
        precision=_ratio(tp, tp + fp),
        latency_s_median=round(statistics.median(latencies), 3) if latencies else None,
        latency_s_max=round(max(latencies), 3) if latencies else None,
        false_alarms_per_hour=round(alarms / adl_hours, 2) if adl_hours else 0.0,
        adl_hours=round(adl_hours, 4), unreadable=len(results) - len(readable))


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


#: The places of the public datasets' clips, from their naming conventions, for the
#: ``room`` grouping when the labels have no ``room`` column: (glob over the file path,
#: room). GMDCSA24 filmed each subject in their own home (``S1_...``, ``S2_...``); Le2i
#: names a scene before its number (``Coffee_room_01`` and ``Coffee_room_02`` are one
#: room seen by one camera; ``Home_01``, ``Home_02`` likewise); UP-Fall is one laboratory.
KNOWN_ROOMS: tuple[tuple[str, str], ...] = (
    ("*gmdcsa24/S[0-9]*_*", "gmdcsa24/{subject}"),
    ("*le2i/*", "le2i/{scene}"),
)
GROUPINGS = ("dataset", "room")


def group_of(clip: LabelledClip, key: str,
             rooms: tuple[tuple[str, str], ...] = ()) -> str:
    """Which group a clip belongs to, by ``key``: ``dataset``, ``room`` or a column name.

    - ``dataset``: the ``dataset`` column, else the clip's first folder (``upfall/...``).
    - ``room``: the ``room`` column; else the first of ``rooms`` (``(glob, room)``, given
      on the command line) whose glob matches the file; else the public datasets' own
      conventions (``KNOWN_ROOMS``); else the dataset (one room per dataset).
    - any other key: that column of the labels ('' when the row has none).
    """
    if key == "dataset":
        return clip.column("dataset") or (clip.file.split("/")[0] if "/" in clip.file else ".")
    if key == "room":
        if clip.column("room"):
            return clip.column("room")
        for pattern, room in rooms:
            if fnmatch.fnmatch(clip.file, pattern):
                return room
        for pattern, room in KNOWN_ROOMS:
            if fnmatch.fnmatch(clip.file, pattern):
                return _known_room(clip.file, room)
        return group_of(clip, "dataset")
    return clip.column(key)


def _known_room(file: str, template: str) -> str:
    stem = Path(file).stem
    return template.format(subject=stem.split("_")[0],
                           scene=re.sub(r"(_\d+)?_video.*$", "", stem))


def summarise_by(results: list[ClipResult], key: str,
                 rooms: tuple[tuple[str, str], ...] = ()) -> dict[str, Summary]:
    """The figures of each group (in order of first appearance)."""
    groups: dict[str, list[ClipResult]] = {}
    for result in results:
        groups.setdefault(group_of(result.clip, key, rooms), []).append(result)
    return {name: summarise(members) for name, members in groups.items()}


@dataclass(frozen=True, slots=True)
class HeldOut:
    """One fold of a leave-one-group-out check: the group held out and its figures."""

    group: str
    clips: int
    summary: Summary
    fitted_on: int
    """How many clips anything was fitted on for this fold (0: nothing is fitted)."""


def hold_out(results: list[ClipResult], key: str,
             rooms: tuple[tuple[str, str], ...] = ()) -> list[HeldOut]:
    """Leave-one-group-out: for each group, the figures on it with nothing learnt from it.

    The detector has no learned or tuned part: every threshold is fixed in the packaged
    configuration before any clip is seen, so there is nothing to fit on the other
    groups (``fitted_on`` is 0) and each held-out figure is the figure on that group,
    from the same runs as the pooled figures. A detector with a fitted part would refit
    it here on the clips outside the group before scoring the group.
    """
    folds = []
    for name, summary in summarise_by(results, key, rooms).items():
        members = [r for r in results if group_of(r.clip, key, rooms) == name]
        folds.append(HeldOut(group=name, clips=len(members), summary=summary, fitted_on=0))
    return folds


def evaluate(directory: str | Path, clips: list[LabelledClip], config: CameraConfig, *,
             keep_trace: bool = False,
             progress: Callable[[int, int, ClipResult], None] | None = None) -> list[ClipResult]:
    """Evaluate every clip in order, reporting each as it finishes."""
    results = []
    for i, clip in enumerate(clips, 1):
        results.append(evaluate_clip(directory, clip, config, keep_trace=keep_trace))
        if progress:
            progress(i, len(clips), results[-1])
    return results
