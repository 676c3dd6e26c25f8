"""Damaged video files: a corrupt frame is skipped and counted, a file cut short is
reported (watch: one line and exit 1; eval: unreadable, left out of the scores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carefleet.cli import main
from carefleet.errors import SourceError
from carefleet.vision.config import default_config
from carefleet.vision.evaluate import LabelledClip, evaluate_clip
from carefleet.vision.sources import open_source
from vision_clips import FPS, corrupt_frames, truncate, write_video

CORRUPT = (20, 21, 22, 150)   # before the fall (it starts at frame 39) and after it
EXIT_SOURCE_FAILED = 1


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, clips) -> Path:
    folder = tmp_path_factory.mktemp("damaged")
    fall = write_video(folder / "fall.avi", clips["fall"])
    write_video(folder / "sit.avi", clips["sit"])
    corrupt_frames(fall, folder / "fall_corrupt.avi", CORRUPT)
    truncate(fall, folder / "fall_truncated.avi", keep_frames=120)  # the fall is in it
    truncate(fall, folder / "fall_cut.avi", keep_frames=30)         # cut before the fall
    truncate(fall, folder / "fall_stub.avi", keep_frames=0)         # only the header left
    return folder


def test_the_damaged_files_are_what_the_tests_need(damaged, clips):
    for name in ("fall_corrupt", "fall_truncated", "fall_cut"):
        assert open_source(str(damaged / f"{name}.avi")).frame_count == len(clips["fall"])


def test_a_corrupt_frame_in_a_file_is_skipped_and_counted(damaged, clips):
    source = open_source(str(damaged / "fall_corrupt.avi"))
    times = [t for _, t in source.frames()]
    assert len(times) == len(clips["fall"]) - len(CORRUPT)
    assert source.skipped == len(CORRUPT)
    assert times[19] == pytest.approx(19 / FPS) and times[20] == pytest.approx(23 / FPS)
    assert times[-1] == pytest.approx((len(clips["fall"]) - 1) / FPS)  # timing stays true


def test_a_corrupt_frame_is_skipped_at_a_capped_rate_too(damaged, clips):
    source = open_source(str(damaged / "fall_corrupt.avi"))
    times = [t for _, t in source.frames(max_fps=FPS / 3)]
    assert source.skipped == len(CORRUPT)
    assert all(round(t * FPS) % 3 == 0 for t in times)
    assert times[-1] > (len(clips["fall"]) - 4) / FPS


def test_a_file_cut_short_ends_with_a_source_error_naming_it(damaged):
    source = open_source(str(damaged / "fall_truncated.avi"))
    frames = source.frames()
    read = 0
    with pytest.raises(SourceError) as caught:
        for _ in frames:
            read += 1
    assert read == 120
    assert str(caught.value) == (f"{damaged / 'fall_truncated.avi'}: ended early after "
                                 "120 of 256 frames (the file is truncated or corrupt)")


def test_watch_skips_corrupt_frames_and_keeps_watching(damaged, capsys):
    code = main(["vision", "watch", str(damaged / "fall_corrupt.avi"), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert [json.loads(line)["kind"] for line in captured.out.splitlines()] == [
        "fall_detected", "fall_confirmed"]
    assert captured.err.strip() == (f"carefleet: camera fall_corrupt: "
                                    f"{damaged / 'fall_corrupt.avi'}: skipped 4 corrupt frames")


def test_watch_reports_a_source_cut_short_and_exits_1(damaged, capsys):
    code = main(["vision", "watch", str(damaged / "fall_truncated.avi"),
                 str(damaged / "sit.avi"), "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_SOURCE_FAILED
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert {e["camera_id"] for e in events} == {"fall_truncated"}  # its frames were watched
    [line] = captured.err.strip().splitlines()
    assert line.startswith("carefleet: camera fall_truncated: ") and "ended early" in line
    assert "Traceback" not in captured.err


def test_watch_of_one_source_cut_short_exits_1(damaged, capsys):
    assert main(["vision", "watch", str(damaged / "fall_cut.avi")]) == EXIT_SOURCE_FAILED
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "fall_cut.avi: ended early after 30 of 256 frames" in line


def test_a_camera_that_cannot_be_opened_among_several_fails_the_watch(damaged, capsys):
    code = main(["vision", "watch", str(damaged / "sit.avi"), str(damaged / "ghost.avi")])
    assert code == EXIT_SOURCE_FAILED
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "ghost" in line and "no such video file" in line


def test_eval_reports_clips_cut_short_apart_and_scores_the_rest(damaged, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,fall_start_frame\nfall.avi,fall,39\nfall_cut.avi,fall,39\n"
                      "fall_corrupt.avi,fall,39\nfall_truncated.avi,fall,39\nsit.avi,adl,\n"
                      "fall_stub.avi,fall,39\n")
    out, report = tmp_path / "figures.json", tmp_path / "report.html"
    code = main(["vision", "eval", str(damaged), "--labels", str(labels), "--backend", "opencv",
                 "--json", str(out),
                 "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 0
    figures = json.loads(out.read_text())
    assert figures["unreadable"] == 3
    assert (figures["falls"], figures["true_positives"], figures["adls"]) == (2, 2, 1)
    assert figures["sensitivity"] == 1.0 and figures["specificity"] == 1.0
    clips = {c["file"]: c for c in figures["clips"]}
    assert "ended early after 30 of 256 frames" in clips["fall_cut.avi"]["unreadable"]
    assert "ended early after 120 of 256 frames" in clips["fall_truncated.avi"]["unreadable"]
    assert clips["fall_stub.avi"]["unreadable"] == "no decodable frames (corrupt or empty video)"
    assert clips["fall_cut.avi"]["correct"] is None
    assert clips["fall.avi"]["unreadable"] is None
    assert clips["fall_corrupt.avi"]["skipped_frames"] == len(CORRUPT)
    unreadable = [line for line in captured.out.splitlines() if line.startswith("UNREADABLE")]
    assert [line.split()[2] for line in unreadable] == [
        "fall_cut.avi:", "fall_truncated.avi:", "fall_stub.avi:"]
    assert "sensitivity 1.000 (2/2)" in captured.out
    assert "3 unreadable clips left out" in captured.out
    assert "[6/6]" in captured.err and "Traceback" not in captured.err
    html = report.read_text()
    assert html.count("<h2") == 6 and html.count("UNREADABLE") == 3
    assert "<th>unreadable</th><td>3</td>" in html


def test_a_clip_that_ends_before_its_labelled_fall_is_unreadable(damaged, clips):
    clip = LabelledClip(file="sit.avi", label="fall", fall_start_frame=400, line=2)
    result = evaluate_clip(damaged, clip, default_config())
    assert result.unreadable == (f"ends at frame {len(clips['sit'])}, before the labelled "
                                 "fall start (frame 400)")
    assert result.correct is None


def test_a_clip_with_no_decodable_frame_is_unreadable_but_a_missing_one_is_an_error(damaged):
    clip = LabelledClip(file="fall_stub.avi", label="fall", fall_start_frame=39, line=2)
    result = evaluate_clip(damaged, clip, default_config())
    assert result.unreadable == "no decodable frames (corrupt or empty video)"
    with pytest.raises(SourceError, match="ghost.avi: no such video file"):
        evaluate_clip(damaged, LabelledClip(file="ghost.avi", label="adl",
                                            fall_start_frame=None, line=3), default_config())
