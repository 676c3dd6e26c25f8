"""Evaluation per group: per dataset, per room, leave-one-dataset-out and -room-out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carefleet.cli import main
from carefleet.vision.evaluate import LabelledClip, group_of, load_labels
from vision_clips import write_video


def clip(file: str, **columns: str) -> LabelledClip:
    return LabelledClip(file=file, label="adl", fall_start_frame=None, line=2,
                        columns=tuple(columns.items()))


@pytest.mark.parametrize("file, columns, dataset, room", [
    ("upfall/A01_S1_T1_C1.mp4", {}, "upfall", "upfall"),            # one laboratory
    ("gmdcsa24/S1_fall_13.mp4", {}, "gmdcsa24", "gmdcsa24/S1"),     # each subject's home
    ("gmdcsa24/S2_adl_24.mp4", {}, "gmdcsa24", "gmdcsa24/S2"),
    ("le2i/Coffee_room_01_video01.mp4", {}, "le2i", "le2i/Coffee_room"),   # 01 and 02:
    ("le2i/Coffee_room_02_video63.mp4", {}, "le2i", "le2i/Coffee_room"),   # one room
    ("le2i/Home_02_video12.mp4", {}, "le2i", "le2i/Home"),
    ("clip.avi", {}, ".", "."),
    ("a/x.avi", {"dataset": "ours", "room": "ward 3"}, "ours", "ward 3"),   # columns win
])
def test_groups_come_from_columns_or_the_datasets_naming(file, columns, dataset, room):
    assert group_of(clip(file, **columns), "dataset") == dataset
    assert group_of(clip(file, **columns), "room") == room


def test_room_rules_from_the_command_line_come_before_the_naming_conventions():
    rules = (("le2i/Coffee_room_02_*", "coffee room, second camera"),)
    assert group_of(clip("le2i/Coffee_room_02_video63.mp4"), "room", rules) == \
        "coffee room, second camera"
    assert group_of(clip("le2i/Coffee_room_01_video01.mp4"), "room", rules) == \
        "le2i/Coffee_room"


def test_other_columns_are_kept_for_grouping(write_text):
    labels = write_text("file,label,fall_start_frame,camera\na.avi,adl,,front\n", "l.csv")
    assert group_of(load_labels(labels)[0], "camera") == "front"


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory, clips) -> Path:
    """Two 'datasets' (folders): one where the fall is found, one with a false alarm
    (a lie-down with no bed zone, labelled as everyday activity)."""
    root = tmp_path_factory.mktemp("groups")
    (root / "alpha").mkdir()
    (root / "beta").mkdir()
    write_video(root / "alpha" / "fall.avi", clips["fall"])
    write_video(root / "alpha" / "sit.avi", clips["sit"])
    write_video(root / "beta" / "bend.avi", clips["bend"])
    write_video(root / "beta" / "lie.avi", clips["lie_on_bed"])
    (root / "labels.csv").write_text(
        "file,label,fall_start_frame\nalpha/fall.avi,fall,39\nalpha/sit.avi,adl,\n"
        "beta/bend.avi,adl,\nbeta/lie.avi,adl,\n")
    return root


def test_eval_reports_per_dataset_and_leave_one_out(two_datasets, tmp_path, capsys):
    out, report = tmp_path / "figures.json", tmp_path / "report.html"
    assert main(["vision", "eval", str(two_datasets), "--labels",
                 str(two_datasets / "labels.csv"), "--backend", "opencv",
                 "--holdout", "dataset", "--holdout", "room",
                 "--room", "beta/*=the beta room", "--json", str(out),
                 "--report", str(report)]) == 0
    text = capsys.readouterr().out
    assert "per dataset:" in text and "leave-one-dataset-out" in text
    assert "leave-one-room-out" in text and "the beta room" in text
    assert "worst held-out dataset: sensitivity 1.000, specificity 0.500" in text
    figures = json.loads(out.read_text())
    alpha, beta = figures["groups"]["dataset"]["alpha"], figures["groups"]["dataset"]["beta"]
    assert (alpha["sensitivity"], alpha["specificity"]) == (1.0, 1.0)
    assert (beta["falls"], beta["adls"], beta["false_positives"]) == (0, 2, 1)
    folds = {f["group"]: f for f in figures["holdout"]["dataset"]}
    # nothing is fitted, so a held-out figure is the group's own figure
    assert folds["beta"]["fitted_on"] == 0 and folds["beta"]["specificity"] == 0.5
    assert [f["group"] for f in figures["holdout"]["room"]] == ["alpha", "the beta room"]
    assert {c["file"]: c["dataset"] for c in figures["clips"]}["beta/lie.avi"] == "beta"
    html = report.read_text()
    assert "per dataset" in html and "leave-one-room-out" in html and "the beta room" in html


def test_a_bad_room_rule_is_one_line(two_datasets, capsys):
    assert main(["vision", "eval", str(two_datasets), "--labels",
                 str(two_datasets / "labels.csv"), "--room", "beta"]) == 2
    assert "expected GLOB=ROOM" in capsys.readouterr().err

