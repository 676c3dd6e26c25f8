"""The nav2_msgs package that ros/interfaces/build.py generates (``make`` builds it into
.venv): Nav2's own types, and the same types whichever release's definitions built it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("rclpy")
nav2_action = pytest.importorskip("nav2_msgs.action",
                                  reason="nav2_msgs not built (ros/interfaces/build.py)")
pytest.importorskip("rosidl_adapter", reason="the nav2-build extra is not installed")

from ros_helpers import REPO  # noqa: E402

DEFINITIONS = REPO / "ros" / "interfaces" / "nav2_msgs"


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nav2_build", REPO / "ros/interfaces/build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kilted_and_jazzy_definitions_are_the_same_types_as_the_installed_ones(
        tmp_path: Path) -> None:
    build = _build_module()
    kilted = build.type_hashes(DEFINITIONS / "kilted" / "action", tmp_path / "kilted")
    jazzy = build.type_hashes(DEFINITIONS / "jazzy" / "action", tmp_path / "jazzy")
    assert "nav2_msgs/action/NavigateToPose_FeedbackMessage" in kilted
    assert kilted == jazzy                      # they differ in constants only
    share = Path(sys.prefix) / "share" / "nav2_msgs" / "action"      # where build.py installs
    installed = {}
    for name in ("NavigateToPose", "DockRobot", "UndockRobot"):
        for entry in json.loads((share / f"{name}.json").read_text())["type_hashes"]:
            installed[entry["type_name"]] = entry["hash_string"]
    assert {k: v for k, v in installed.items() if k.startswith("nav2_msgs/")} == kilted


def test_the_generated_types_carry_nav2s_fields_and_defaults() -> None:
    feedback = nav2_action.NavigateToPose.Feedback()
    assert feedback.distance_remaining == 0.0
    assert feedback.estimated_time_remaining.sec == 0
    goal = nav2_action.DockRobot.Goal()
    assert goal.use_dock_id is True and goal.navigate_to_staging_pose is True
    assert goal.max_staging_time == pytest.approx(1000.0)
    assert nav2_action.DockRobot.Feedback.NAV_TO_STAGING_POSE == 1
    assert nav2_action.DockRobot.Result.DOCK_NOT_IN_DB == 901
    assert nav2_action.UndockRobot.Goal().max_undocking_time == pytest.approx(30.0)
