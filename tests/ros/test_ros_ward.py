"""The ward over real DDS: the orchestrator node, simulated Nav2 robots as their own
processes, a client on the task API (see conftest: own domain id, loopback only).

Where nav2_msgs is built (``make`` builds it) the robots serve the NavigateToPose action
and the driver drives through it (feedback, cancel); one test keeps the topic path (a
robot without the action server); docking through the docking server needs it too."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from action_msgs.msg import GoalStatus, GoalStatusArray  # noqa: E402

from carefleet.orchestrator.store import TaskStore  # noqa: E402
from carefleet.ros.common import QOS_ACTION_STATUS, QOS_COMMANDS, NavigateToPose  # noqa: E402

from ros_helpers import Client, Ward, wait_for  # noqa: E402


@pytest.fixture
def ward(request: pytest.FixtureRequest, tmp_path: Path, client: Client) -> Any:
    client.reset()
    marker = request.node.get_closest_marker("speed")
    settings = request.node.get_closest_marker("ward")
    w = Ward(tmp_path, speed=marker.args[0] if marker else 20.0,
             **(settings.kwargs if settings else {}))
    try:
        w.wait_ready(client)
        yield w
    finally:
        codes = w.stop()
        print(w.logs())                 # shown by pytest when the test failed
    assert all(code == 0 for name, code in codes.items()
               if name not in w.killed), (codes, w.logs())


def stored(ward: Ward, task_id: str) -> dict[str, Any] | None:
    with TaskStore(ward.store, writer=False) as store:
        return store.task(task_id)


def ended(ward: Ward, task_id: str, timeout: float) -> dict[str, Any]:
    """The stored task once it has ended (completed, failed or cancelled)."""
    return wait_for(lambda: (stored(ward, task_id) or {}).get("state") in
                    ("completed", "failed", "cancelled") and stored(ward, task_id),
                    timeout, f"task {task_id} to end")


def goal_states(messages: list[GoalStatusArray]) -> list[int]:
    return [s.status for m in messages for s in m.status_list]


needs_nav2 = pytest.mark.skipif(NavigateToPose is None, reason="nav2_msgs is not built here "
                                "(ros/interfaces/build.py)")
#: Drive through the action when it can be had here (else the topic path, as before).
THROUGH_THE_ACTION = {"goals": "action" if NavigateToPose is not None else "auto"}


def feedback_of(client: Client, robot: str) -> list[Any]:
    """Every NavigateToPose feedback message ``robot``'s action server sends."""
    return client.watch(NavigateToPose.Impl.FeedbackMessage,
                        f"/{robot}/navigate_to_pose/_action/feedback", QOS_COMMANDS,
                        matched=True)


@pytest.mark.ward(driver=THROUGH_THE_ACTION)
def test_a_task_on_the_task_api_is_answered_and_carried_out_by_a_simulated_nav2_robot(
        ward: Ward, client: Client) -> None:
    goals = {r: client.watch(GoalStatusArray, f"/{r}/navigate_to_pose/_action/status",
                             QOS_ACTION_STATUS) for r in ("tray_1", "tray_2")}
    feedback = ({r: feedback_of(client, r) for r in ("tray_1", "tray_2")}
                if NavigateToPose is not None else {})
    bad = client.request({"task": {"kind": "go_to", "place": "room_999"}})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid", bad
    assert "room_999" in bad["error"]["message"]
    missing = client.request({"task": {"place": "room_203"}})
    assert missing["ok"] is False and missing["error"]["field"] == "kind", missing
    answer = client.request({"task": {"id": "ros-go-1", "kind": "go_to", "place": "room_105"}})
    assert answer["ok"] is True, answer
    task = answer["task"]
    assert task["id"] == "ros-go-1" and task["kind"] == "go_to"
    again = client.request({"task": {"id": "ros-go-1", "kind": "go_to", "place": "room_105"}})
    assert again["ok"] and again["task"]["id"] == "ros-go-1" and again.get("repeated")
    done = ended(ward, "ros-go-1", 60)
    assert done["state"] == "completed", done
    robot = done["assigned_robot"]
    assert GoalStatus.STATUS_SUCCEEDED in goal_states(goals[robot])
    here = wait_for(lambda: (client.robot(robot) or {}).get("position") == "f1_door_2"
                    and client.robot(robot)["navigation"] is None and client.robot(robot), 10,
                    "the robot's snapped pose at room 105 (and no drive feedback)")
    pose = here["reported_pose"]
    assert pose["floor"] == "F1"
    if NavigateToPose is not None:       # the action's feedback, in the fleet state too
        assert any(m.feedback.distance_remaining > 0 for m in feedback[robot])
        shown = client.navigation.get(robot, [])
        assert any(n["distance_remaining"] > 0 and n["time_remaining"] > 0 for n in shown)
        assert all(n["eta"] >= n["time_remaining"] for n in shown)


@pytest.mark.speed(4.0)           # slow enough that the drive is surely cancelled mid-way
@pytest.mark.ward(driver=THROUGH_THE_ACTION)
def test_cancel_mid_drive_cancels_the_nav2_goal(ward: Ward, client: Client) -> None:
    goals = client.watch(GoalStatusArray, "/tray_1/navigate_to_pose/_action/status",
                         QOS_ACTION_STATUS)
    answer = client.request({"task": {"id": "far-1", "kind": "go_to", "place": "room_216",
                                      "robot": "tray_1"}})
    assert answer["ok"], answer
    wait_for(lambda: (client.robot("tray_1") or {}).get("state") == "navigating", 20,
             "tray_1 driving")
    wait_for(lambda: GoalStatus.STATUS_EXECUTING in goal_states(goals), 10,
             "an executing Nav2 goal")
    cancelled = client.request({"cancel": "far-1", "reason": "changed my mind"})
    assert cancelled["ok"] and cancelled["task"]["state"] == "cancelled", cancelled
    wait_for(lambda: GoalStatus.STATUS_CANCELED in goal_states(goals[-1:]), 10,
             lambda: f"the Nav2 goal cancelled (statuses: {[goal_states([m]) for m in goals]})")
    wait_for(lambda: (client.robot("tray_1") or {}).get("state") == "idle", 10, "tray_1 idle")
    stopped = client.robot("tray_1")["reported_pose"]
    wait_for(lambda: client.robot("tray_1")["reported_pose"] == stopped or None, 5,
             "tray_1 standing still")
    assert stored(ward, "far-1")["state"] == "cancelled"
    unknown = client.request({"cancel": "no-such-task"})
    assert unknown["ok"] is False and unknown["error"]["code"] == "not_found", unknown
    again = client.request({"cancel": "far-1"})
    assert again["ok"] is False and again["error"]["code"] == "conflict", again


def test_a_robot_whose_node_dies_goes_offline_and_its_task_moves_to_another_robot(
        ward: Ward, client: Client) -> None:
    answer = client.request({"task": {"id": "far-2", "kind": "go_to", "place": "room_216"}})
    assert answer["ok"], answer
    first = wait_for(lambda: (client.task("far-2") or {}).get("robot"), 20, "a robot assigned")
    other = "tray_2" if first == "tray_1" else "tray_1"
    wait_for(lambda: (client.robot(first) or {}).get("state") == "navigating", 20,
             f"{first} driving")
    ward.procs[first].kill()
    ward.killed.add(first)
    down = wait_for(lambda: (client.robot(first) or {}).get("state") == "offline"
                    and client.robot(first), 30, f"{first} offline")
    assert down["heard"] is False                  # the driver said so: no silence timeout
    wait_for(lambda: (client.task("far-2") or {}).get("robot") == other, 30,
             f"far-2 handed to {other}")
    done = wait_for(lambda: (stored(ward, "far-2") or {}).get("state") == "completed"
                    and stored(ward, "far-2"), 90, "far-2 completed by the other robot")
    assert done["assigned_robot"] == other
    assert any(a.get("type") == "notify" and a.get("key") == "robot_link_lost"
               and a.get("robot_id") == first for a in client.alerts)
    _ = signal


@pytest.mark.speed(4.0)
@pytest.mark.ward(sim={"action_server": False})
def test_a_nav2_robot_seen_through_its_topics_only_is_driven_and_cancelled_through_them(
        ward: Ward, client: Client) -> None:
    """The fallback: no NavigateToPose server (or no nav2_msgs here), goals on goal_pose."""
    goals = client.watch(GoalStatusArray, "/tray_1/navigate_to_pose/_action/status",
                         QOS_ACTION_STATUS)
    answer = client.request({"task": {"id": "far-3", "kind": "go_to", "place": "room_216",
                                      "robot": "tray_1"}})
    assert answer["ok"], answer
    wait_for(lambda: GoalStatus.STATUS_EXECUTING in goal_states(goals), 20,
             "an executing Nav2 goal")
    assert client.request({"cancel": "far-3"})["ok"]
    wait_for(lambda: GoalStatus.STATUS_CANCELED in goal_states(goals[-1:]), 10,
             lambda: f"the Nav2 goal cancelled (statuses: {[goal_states([m]) for m in goals]})")
    answer = client.request({"task": {"id": "near-3", "kind": "go_to", "place": "room_105",
                                      "robot": "tray_1"}})
    assert answer["ok"], answer
    done = ended(ward, "near-3", 90)
    assert done["state"] == "completed", done
    assert not client.navigation.get("tray_1")          # topics carry no feedback


@needs_nav2
@pytest.mark.ward(driver={"docking": "server"}, sim={"docking_server": True})
def test_a_robot_docks_through_the_docking_server_and_undocks_before_its_next_drive(
        ward: Ward, client: Client) -> None:
    from nav2_msgs.action import DockRobot, UndockRobot
    docks = client.watch(GoalStatusArray, "/tray_1/dock_robot/_action/status", QOS_ACTION_STATUS)
    undocks = client.watch(GoalStatusArray, "/tray_1/undock_robot/_action/status",
                           QOS_ACTION_STATUS)
    assert DockRobot and UndockRobot
    sim = client.node.create_publisher(client.String, "/tray_1/carefleet/sim", QOS_COMMANDS)
    wait_for(lambda: sim.get_subscription_count() > 0, 20, "tray_1's scenario hooks")
    sim.publish(client.String(data='{"battery": 0.3}'))
    wait_for(lambda: (client.robot("tray_1") or {}).get("battery", 1.0) < 0.5, 20,
             "tray_1's battery low")
    answer = client.request({"task": {"id": "charge-1", "kind": "charge", "robot": "tray_1",
                                      "charger": "charger_f1"}})
    assert answer["ok"], answer
    wait_for(lambda: (client.robot("tray_1") or {}).get("state") == "charging", 30,
             "tray_1 charging")
    assert GoalStatus.STATUS_SUCCEEDED in goal_states(docks)
    assert client.request({"cancel": "charge-1"})["ok"]
    answer = client.request({"task": {"id": "near-4", "kind": "go_to", "place": "room_105",
                                      "robot": "tray_1"}})
    assert answer["ok"], answer
    done = ended(ward, "near-4", 60)
    assert done["state"] == "completed", done
    assert GoalStatus.STATUS_SUCCEEDED in goal_states(undocks)
