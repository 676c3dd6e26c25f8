"""``carefleet sim``: reports, the KPI table, verdicts as exit codes, a kept task store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from carefleet.cli import main
from carefleet.simulation.kpi import KPI_DEFINITIONS, format_kpi_table
from carefleet.simulation.scenario import load_scenario

SCENARIOS_DIR = Path(load_scenario.__code__.co_filename).parent / "scenarios"
IMPOSSIBLE = "  - {kpi: meals_delivered, min: 10000}\n"


def test_sim_writes_reports_and_prints_the_kpi_table(write_scenario, tmp_path, capsys):
    html_path, json_path = tmp_path / "out" / "day.html", tmp_path / "day.json"
    html_path.parent.mkdir()
    code = main(["sim", str(write_scenario()), "--report", str(html_path),
                 "--json", str(json_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == "", "--quiet: nothing on stderr when all is well"
    assert html_path.exists() and json_path.exists()
    page = html_path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "Tiny morning" in page
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(KPI_DEFINITIONS) <= set(doc["kpis"])
    assert doc["passed"] is True
    assert [e["name"] for e in doc["expectations"]] == ["meals_delivered >= 4", "tasks_lost <= 0"]
    assert all(e["passed"] for e in doc["expectations"])
    assert doc["scenario"] == "Tiny morning" and doc["seed"] == 3
    assert len(doc["tasks"]) == doc["kpis"]["tasks_total"]
    # the KPI table printed is the one format_kpi_table makes from the JSON's figures
    assert format_kpi_table(doc["kpis"]) in out
    assert KPI_DEFINITIONS["meals_delivered"][0] in out
    assert "PASS  meals_delivered >= 4" in out
    assert f"report: {html_path}" in out and f"json: {json_path}" in out


def test_a_failed_expectation_exits_1_and_is_named(write_scenario, capsys):
    path = write_scenario(append=IMPOSSIBLE)
    assert main(["sim", str(path), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "FAIL  meals_delivered >= 10000" in out
    assert "PASS  tasks_lost <= 0" in out
    lines = err.splitlines()
    assert len(lines) == 1 and "meals_delivered >= 10000" in lines[0]
    assert "tasks_lost" not in lines[0], "only failing expectations are named"
    assert "Traceback" not in err


def test_a_failed_run_still_writes_its_json(write_scenario, tmp_path, capsys):
    json_path = tmp_path / "day.json"
    assert main(["sim", str(write_scenario(append=IMPOSSIBLE)), "--json", str(json_path),
                 "--quiet"]) == 1
    doc = json.loads(json_path.read_text())
    assert doc["passed"] is False
    failed = [e for e in doc["expectations"] if not e["passed"]]
    assert [e["name"] for e in failed] == ["meals_delivered >= 10000"]
    assert failed[0]["detail"].startswith("measured")


def test_db_keeps_a_real_sqlite_store_with_every_task(write_scenario, tmp_path, capsys):
    db, json_path = tmp_path / "kept.sqlite", tmp_path / "day.json"
    path = write_scenario(("events:\n", 'events:\n  - {at: "07:33", kind: restart}\n'))
    assert main(["sim", str(path), "--db", str(db), "--json", str(json_path), "--quiet"]) == 0
    assert db.exists()
    doc = json.loads(json_path.read_text())
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, state FROM tasks ORDER BY id").fetchall()
        audited = connection.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    assert rows == sorted((t["id"], t["state"]) for t in doc["tasks"])
    assert len(rows) == doc["kpis"]["tasks_total"] >= 3
    assert audited > 0
    assert doc["restarts"] == 1 and doc["lost_tasks"] == []


def test_seed_override(write_scenario, tmp_path, capsys):
    path = write_scenario()
    outputs = []
    for seed in (5, 5, 6):
        target = tmp_path / f"seed{seed}-{len(outputs)}.json"
        assert main(["sim", str(path), "--seed", str(seed), "--json", str(target), "--quiet"]) == 0
        doc = json.loads(target.read_text())
        assert doc["seed"] == seed
        outputs.append(doc["tasks"])
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]
    assert "seed 6" in capsys.readouterr().out


def test_progress_goes_to_stderr_without_quiet(write_scenario, capsys):
    assert main(["sim", str(write_scenario())]) == 0
    out, err = capsys.readouterr()
    assert "Tiny morning" in err and "100%" in err and "simulated in" in err
    assert "simulated in" not in out


def test_a_bundled_scenario_passes_through_the_cli(capsys):
    assert main(["sim", str(SCENARIOS_DIR / "fall_during_lunch.yaml"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("PASS") == 5


def test_sim_needs_a_scenario(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["sim"])
    assert exited.value.code == 2


def test_a_store_from_an_earlier_run_is_refused(tmp_path, capsys):
    scenario = Path(__file__).resolve().parents[2] / "simulation/scenarios/normal_day.yaml"
    db = tmp_path / "tasks.sqlite"
    assert main(["sim", str(scenario), "--quiet", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["sim", str(scenario), "--quiet", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (f"carefleet: error: {db}: already holds tasks of another "
                                       "run; give a new file (a run starts from an empty store)\n")
