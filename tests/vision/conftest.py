"""Fixtures for the vision tests: synthetic clips (never the real footage in shared/)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from vision_clips import SCENES, Clip, render

@pytest.fixture(scope="session")
def clips() -> dict[str, Clip]:
    """Every synthetic scene, rendered once per test session."""
    return {name: render(poses) for name, poses in SCENES.items()}



@pytest.fixture
def write_text(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented text to a file in tmp_path and return its path."""
    def write(text: str, name: str = "camera.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write
