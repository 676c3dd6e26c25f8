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
