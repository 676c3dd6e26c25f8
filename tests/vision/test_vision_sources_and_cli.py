"""Video sources, the watch runtime, labels, evaluation and the two commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from carefleet.cli import main
from carefleet.errors import InputError, SourceError
from carefleet.vision.detector import Detector
from carefleet.vision.evaluate import load_labels
from carefleet.vision.events import EventKind
from carefleet.vision.sources import open_source
from carefleet.vision.watch import watch
from vision_clips import FPS, write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory, clips) -> Path:
    """A folder with real video files of three scenes, a corrupt one and labels."""
    folder = tmp_path_factory.mktemp("clips")
    for name in ("fall", "sit", "bend"):
        write_video(folder / f"{name}.avi", clips[name])
    (folder / "broken.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 50)
    (folder / "labels.csv").write_text(
        "file,label,fall_start_frame\nfall.avi,fall,39\nsit.avi,adl,\nbend.avi,adl,\n")
    return folder


def test_a_video_file_yields_frames_timed_by_index(videos):
    source = open_source(str(videos / "sit.avi"))
    frames = list(source.frames())
    assert source.fps == pytest.approx(FPS)
    assert len(frames) == source.frame_count
    assert frames[1][1] == pytest.approx(1 / FPS) and frames[0][0].shape == (240, 320, 3)


def test_a_capped_rate_skips_frames_of_a_file(videos):
    frames = list(open_source(str(videos / "sit.avi")).frames(max_fps=FPS / 3))
    assert frames[1][1] == pytest.approx(3 / FPS)


@pytest.mark.parametrize("name, message", [("missing.avi", "no such video file"),
                                           ("broken.avi", "cannot open|no decodable")])
def test_missing_and_corrupt_files_are_source_errors(videos, name, message):
    with pytest.raises(SourceError, match=message):
        open_source(str(videos / name))


class _Failing:
    """A source that delivers one good frame, then a corrupt one, then dies."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame

    def frames(self, max_fps=None):
        yield self.frame, 0.0
        yield np.zeros((2, 2), np.uint8), 0.5
        raise SourceError("rtsp://ward-9: stream stopped delivering frames")


def test_a_failing_camera_is_dropped_and_the_others_keep_running(videos, clips):
    sources = {"good": open_source(str(videos / "fall.avi")), "bad": _Failing(clips["sit"][0][0])}
    events, failures = [], []
    dropped = watch(sources, Detector(), on_event=events.append,
                    on_failure=lambda cam, err: failures.append((cam, str(err))))
    assert dropped == 1
    assert [cam for cam, _ in failures] == ["bad", "bad"]  # the corrupt frame, then the end
    assert "expected a BGR uint8 image" in failures[0][1]
    assert EventKind.FALL_DETECTED in [e.kind for e in events if e.camera_id == "good"]


@pytest.mark.parametrize("text, line, message", [
    ("name,label\nx.avi,fall\n", 1, "missing column"),
    ("file,label,fall_start_frame\na.avi,fall,3\nb.avi,maybe,\n", 3, "label 'maybe'"),
    ("file,label,fall_start_frame\na.avi,fall,soon\n", 2, "expected a frame number"),
    ("file,label,fall_start_frame\na.avi,adl,12\n", 2, "no fall start"),
    ("file,label,fall_start_frame\n", None, "no clips"),
])
def test_bad_labels_name_the_file_and_line(write_text, text, line, message):
    path = write_text(text, "labels.csv")
    with pytest.raises(InputError, match=message) as caught:
        load_labels(path)
    assert caught.value.line == line and caught.value.source == str(path)


def test_eval_prints_and_writes_the_figures(videos, tmp_path, capsys):
    out = tmp_path / "figures.json"
    report = tmp_path / "report.html"
    code = main(["vision", "eval", str(videos), "--labels", str(videos / "labels.csv"),
                 "--json", str(out), "--report", str(report)])
    assert code == 0
    figures = json.loads(out.read_text())
    assert {"sensitivity", "specificity", "precision", "latency_s_median",
            "false_alarms_per_hour", "clips"} <= set(figures)
    assert figures["sensitivity"] == 1.0 and figures["specificity"] == 1.0
    assert 0 < figures["latency_s_median"] < 2.0
    captured = capsys.readouterr()
    assert "sensitivity 1.000 (1/1)" in captured.out and "[3/3]" in captured.err
    html = report.read_text()
    assert html.count("<h2") == 3 and "data:image/png;base64" in html


def test_watch_prints_json_lines(videos, capsys):
    assert main(["vision", "watch", str(videos / "fall.avi"), "--camera-id", "ward-1",
                 "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["kind"] for e in lines] == ["fall_detected", "fall_confirmed"]
    assert lines[0]["camera_id"] == "ward-1"


@pytest.mark.parametrize("args, message", [
    (["watch", "{dir}/missing.avi"], "no such video file"),
    (["watch", "{dir}/broken.avi"], "broken.avi"),
    (["watch", "{dir}/fall.avi", "--config", "{dir}/labels.csv"], "labels.csv"),
    (["eval", "{dir}", "--labels", "{dir}/nope.csv"], "labels file not found"),
    (["eval", "{dir}", "--labels", "{dir}/fall.avi"], "fall.avi"),
])
def test_bad_input_is_one_line_and_exit_2(videos, capsys, args, message):
    code = main(["vision", *[a.format(dir=videos) for a in args]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("carefleet: error:") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_names_a_missing_clip(videos, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,fall_start_frame\nghost.avi,adl,\n")
    assert main(["vision", "eval", str(videos), "--labels", str(labels)]) == 2
    assert "ghost.avi: no such video file" in capsys.readouterr().err
