"""``carefleet ros sim`` gives the verdicts of ``carefleet sim`` on the same scenario, with
every robot its own ROS node process and the orchestrator a node, over loopback DDS.

Tolerance (DDS timing and a /clock that runs ``speed`` times faster than the wall move
arrivals by a few simulated seconds): counts of meals, falls, failures, cancellations and
losses are equal, the number of tasks within one (a meal service may be split into one
more trip when a robot frees up a moment later); times within ``TIME_TOLERANCE`` (2
minutes, or 25 %, whichever is larger); distance and energy within 10 %; utilisation
within 3 points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from ros_helpers import HERE, REPO  # noqa: E402

SCENARIO = HERE / "lunch_hour.yaml"
COUNTS = ("meals_total", "meals_delivered", "meals_missed", "falls", "fall_unreached",
          "tasks_failed", "tasks_cancelled", "tasks_lost")
TIMES = {"delivery_latency_mean_min": 60.0, "delivery_latency_max_min": 60.0,
         "fall_response_mean_s": 1.0, "fall_response_max_s": 1.0}   # unit -> seconds
TIME_TOLERANCE = 120.0


def _run(args: list[str], json_file: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "carefleet.cli", *args, "--json",
                           str(json_file), "--quiet"], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(json_file.read_text())


def test_ros_sim_gives_the_verdicts_of_sim_within_the_stated_tolerance(tmp_path: Path) -> None:
    plain = _run(["sim", str(SCENARIO)], tmp_path / "sim.json")
    ros = _run(["ros", "sim", str(SCENARIO), "--speed", "100", "--logs", str(tmp_path / "logs")],
               tmp_path / "ros.json")
    print("sim:", plain["expectations"], "\nros sim:", ros["expectations"])
    print("ros sim tasks:", [(t["id"], t["kind"], t["state"]) for t in ros["tasks"]])
    assert [(e["name"], e["passed"]) for e in ros["expectations"]] == \
        [(e["name"], e["passed"]) for e in plain["expectations"]]
    assert ros["passed"] and plain["passed"]
    a, b = plain["kpis"], ros["kpis"]
    for key in COUNTS:
        assert a[key] == b[key], (key, a[key], b[key])
    assert abs(a["tasks_total"] - b["tasks_total"]) <= 1, (a["tasks_total"], b["tasks_total"])
    for key, unit in TIMES.items():
        allowed = max(TIME_TOLERANCE, 0.25 * abs(a[key] * unit))
        assert abs(a[key] - b[key]) * unit <= allowed, (key, a[key], b[key])
    for key in ("distance_km", "energy_kwh"):
        assert abs(a[key] - b[key]) <= 0.1 * a[key], (key, a[key], b[key])
    assert abs(a["robot_utilisation"] - b["robot_utilisation"]) <= 0.03
    assert len(ros["robots"]) == 3 and all(r["segments"] for r in ros["robots"])
