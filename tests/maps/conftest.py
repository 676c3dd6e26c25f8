"""Shared fixtures: the bundled demo ward, and a writer for small (often broken) wards."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from carefleet.maps import DEMO_WARD, Planner, Ward, load_ward
from ward_texts import TINY

@pytest.fixture(scope="session")
def demo_ward() -> Ward:
    return load_ward(DEMO_WARD)


@pytest.fixture
def write_ward(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text (dedented) to a file and return its path."""
    def write(text: str, name: str = "ward.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write


@pytest.fixture
def tiny(write_ward: Callable[[str], Path]) -> Ward:
    return load_ward(write_ward(TINY))


@pytest.fixture
def planner(tiny: Ward) -> Planner:
    return Planner(tiny)
