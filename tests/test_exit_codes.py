"""Each kind of failure has its own exit code (README, "Commands"): a core failure is not
bad input, and a store failure is not a failed expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from carefleet import cli
from carefleet.errors import CoreFault
from carefleet.orchestrator.store import TaskStore

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "simulation" / "scenarios" / "closed_corridor.yaml"


def test_a_store_held_by_another_orchestrator_exits_4(tmp_path: Path) -> None:
    db = tmp_path / "held.db"
    with TaskStore(db):
        run = subprocess.run([sys.executable, "-m", "carefleet.cli", "sim", str(SCENARIO),
                              "--db", str(db), "--quiet"], capture_output=True, text=True)
    assert run.returncode == cli.EXIT_STORE_FAILED == 4
    assert run.stderr.startswith("carefleet: store failure: ") and "already in use" in run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1


def test_a_core_failure_exits_3(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import carefleet.simulation.cli as sim_cli

    def broken(*args, **kwargs):
        raise CoreFault("orchestrator core failed while handling Tick (KeyError: 'x')")
    monkeypatch.setattr(sim_cli, "Simulation", broken)
    assert cli.main(["sim", str(SCENARIO), "--quiet"]) == cli.EXIT_CORE_FAULT == 3
    err = capsys.readouterr().err
    assert err.startswith("carefleet: core failure: ") and err.count("\n") == 1


def test_bad_input_still_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nward: nowhere\n")
    assert cli.main(["sim", str(broken), "--quiet"]) == cli.EXIT_BAD_INPUT == 2
