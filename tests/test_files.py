"""Output files are written whole or not at all, and a bad path is one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carefleet import files
from carefleet.errors import InputError
from carefleet.files import write_atomically


def test_missing_folders_are_created(tmp_path: Path) -> None:
    target = tmp_path / "out" / "deeper" / "report.html"
    write_atomically(target, b"<html></html>")
    assert target.read_bytes() == b"<html></html>"
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old report")

    def refuse(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"new report")
    assert target.read_text() == "old report"
    assert os.listdir(tmp_path) == ["r.json"]


def test_a_folder_in_the_way_is_one_line_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "report.html").mkdir()
    with pytest.raises(InputError) as caught:
        write_atomically(tmp_path / "report.html", b"x")
    assert str(caught.value) == f"{tmp_path / 'report.html'}: cannot write: it is a folder"
    assert os.listdir(tmp_path) == ["report.html"]


def test_an_unwritable_place_is_one_line_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError) as caught:
        write_atomically(blocker / "report.html", b"x")
    assert str(caught.value).startswith(f"{blocker / 'report.html'}: cannot write:")


# -- YAML input (carefleet.yamlfile): every ward, scenario and camera file reads through it --

DEEP_YAML = {
    "lists": "[" * 100_000,
    "flow mappings": "{a: " * 50_000,
    "block mappings": "".join(" " * depth + f"k{depth}:\n" for depth in range(1500)),
    "block lists": "".join(" " * depth + "-\n" for depth in range(0, 3000, 2)),
}


@pytest.mark.parametrize("text", DEEP_YAML.values(), ids=DEEP_YAML.keys())
def test_deeply_nested_yaml_is_one_located_input_error(text: str) -> None:
    from carefleet.yamlfile import parse_yaml

    with pytest.raises(InputError, match="nested too deeply") as caught:
        parse_yaml(text, "task api")
    assert caught.value.source == "task api" and caught.value.line is not None
    assert "\n" not in str(caught.value)


def test_yaml_as_deep_as_the_limit_is_read() -> None:
    from carefleet.yamlfile import MAX_DEPTH, parse_yaml

    value = parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "t")
    depth = 0
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == MAX_DEPTH
    with pytest.raises(InputError, match="nested too deeply"):
        parse_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "t")


def test_aliases_count_as_deep_as_what_they_name() -> None:
    from carefleet.yamlfile import MAX_DEPTH, parse_yaml

    half = MAX_DEPTH // 2 + 1
    text = f"a: &deep {'[' * half}{']' * half}\nb: {'[' * half}*deep{']' * half}\n"
    with pytest.raises(InputError, match="nested too deeply") as caught:
        parse_yaml(text, "t")
    assert caught.value.line == 2
    assert parse_yaml("a: &x [[1]]\nb: [*x, *x]\n", "t") == {"a": [[1]], "b": [[[1]], [[1]]]}


def test_a_deeply_nested_yaml_scenario_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from carefleet.cli import main
    from carefleet.simulation.scenario import load_scenario

    path = tmp_path / "scenario.yaml"
    path.write_text("name: deep\nevents:\n  - " + "{at: " * 50_000, encoding="utf-8")
    with pytest.raises(InputError, match="nested too deeply") as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    assert main(["sim", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"carefleet: error: {path}:3:") and "nested too deeply" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
