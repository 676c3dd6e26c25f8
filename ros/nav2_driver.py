"""A robot that runs Nav2 joins CareFleet by configuration only: this driver speaks Nav2's
standard interfaces under the robot's namespace ``NS``.

| what | interface | type |
|---|---|---|
| drive (action path) | a goal of the ``NS/navigate_to_pose`` action; its feedback gives distance and time remaining; cancel through the action | ``nav2_msgs/action/NavigateToPose`` |
| drive (topic path) | publish the goal on ``NS/goal_pose`` (what ``bt_navigator`` turns into a NavigateToPose goal) | ``geometry_msgs/PoseStamped`` |
| how a topic-path drive ends | ``NS/navigate_to_pose/_action/status`` (the newest goal after ours is sent is ours) | ``action_msgs/GoalStatusArray`` |
| cancel (topic path) | ``NS/navigate_to_pose/_action/cancel_goal`` | ``action_msgs/srv/CancelGoal`` |
| dock, undock (docking server) | ``NS/dock_robot`` (``dock_id``: the charger's place id), ``NS/undock_robot`` | ``nav2_msgs/action/DockRobot``, ``UndockRobot`` |
| pose | ``NS/amcl_pose`` (preferred while it flows) or ``NS/odom`` | ``PoseWithCovarianceStamped`` / ``nav_msgs/Odometry`` |
| battery | ``NS/battery_state`` (``percentage`` 0..1; ``CHARGING`` while docked) | ``sensor_msgs/BatteryState`` |
| CareFleet actions | ``NS/carefleet/action`` -> ``NS/carefleet/action_result`` | JSON in ``std_msgs/String`` |
| robot mode (optional) | ``NS/carefleet/state`` ``{"mode": "ready"\\|"error"\\|"emergency_stop", "error": ...}`` | JSON in ``std_msgs/String`` |

Coordinates are the ward's: a goal's ``header.frame_id`` is the map of the goal's floor
(``frames: {F1: map}``; by default the floor id itself), and a pose's frame names its
floor the same way (a frame no floor maps to, such as ``odom``, is on ``floor``, or on
the floor of the robot's last pose). The core snaps poses to the route graph.

Goals (``goals``): ``action`` drives through NavigateToPose (``nav2_msgs`` must be
built here: ``ros/interfaces/build.py``; a robot whose action server is not up is tried
again), ``topic`` through ``goal_pose``, ``auto`` (default) the action whenever its server
is up, else the topic. While an action goal runs, its feedback is the drive's
``progress`` (metres and seconds remaining, in the fleet state).

Docking (``docking``): ``server`` docks through Nav2's docking server (``DockRobot`` with
the charger's place id as ``dock_id``: name the docks of its database so) and undocks
through ``UndockRobot`` before the next drive; ``pose`` drives onto the charger's pose;
``auto`` (default) the server whenever it is up, else the pose. The robot charges there
and says so in ``battery_state``. A robot that sends neither pose nor battery for
``offline_after`` seconds (ROS time) is reported ``OFFLINE`` (why, in ``error``): the core
hands its work to another robot at once, and it rejoins with its next message.

CareFleet actions: ``{"action_id", "action": "load_trays"|"await_pickup"|"scan"|"attend",
"place", "params"}`` and ``{"action_id", "cancel": true}`` on ``NS/carefleet/action``;
the robot answers ``{"action_id", "outcome": "succeeded"|"failed"|"cancelled",
"detail"}`` on ``NS/carefleet/action_result``. With ``action_interface: false`` (a bare
Nav2 robot) ``scan`` succeeds at once, ``attend`` lasts until stopped, and the others
are refused (``IMPOSSIBLE``).
"""

from __future__ import annotations

import json
import math
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Callable

from action_msgs.msg import GoalInfo, GoalStatus, GoalStatusArray
from action_msgs.srv import CancelGoal
from geometry_msgs.msg import PoseStamped, PoseWithCovarianceStamped
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from carefleet.errors import InputError
from carefleet.maps.routing import Planner
from carefleet.orchestrator.events import DriverMode, Pose, RobotStatus
from carefleet.robots.driver import DriverContext, Execution, Reply, Report, RobotDriver
from carefleet.ros.common import (QOS_ACTION_STATUS, QOS_COMMANDS, QOS_SENSOR, DockRobot,
                                  NavigateToPose, UndockRobot, json_message, seconds_of, topic,
                                  wall_timer, yaw_of)

ACTIONS = ("load_trays", "await_pickup", "scan", "attend")
TERMINAL = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_ABORTED: "failed",
            GoalStatus.STATUS_CANCELED: "cancelled"}
GOALS = ("auto", "action", "topic")
DOCKING = ("auto", "server", "pose")
MODES = {"ready": DriverMode.READY, "busy": DriverMode.BUSY, "charging": DriverMode.CHARGING,
         "error": DriverMode.ERROR, "emergency_stop": DriverMode.EMERGENCY_STOP}
_PLANNERS: dict[int, Planner] = {}


@dataclass
class _Drive:
    """One drive we started: through the ``topic`` (its goal found in the status array as
    the first id we had not seen), the NavigateToPose ``action`` or the docking server's
    ``dock`` action (``handle`` once the server accepted it)."""

    command_id: str
    execution: Execution
    ends_at: str                       # the waypoint reported on arrival
    sent_at: float
    known: frozenset[bytes]            # goal ids in the server's array before ours
    dock: bool = False
    goal_id: bytes | None = None
    via: str = "topic"
    handle: ClientGoalHandle | None = None
    cancel_on_accept: bool = False     # stopped before the server answered


@dataclass
class _Seen:
    pose: Pose | None = None
    pose_at: float = -math.inf
    amcl_at: float = -math.inf
    battery: float | None = None
    battery_at: float = -math.inf
    charging: bool = False
    mode: tuple[DriverMode, str | None] | None = None      # from NS/carefleet/state
    goals: dict[bytes, int] = field(default_factory=dict)  # goal id -> latest status


class Nav2Driver(RobotDriver):
    """One Nav2 robot under ``namespace``; ``node`` is the orchestrator's node (its
    executor runs this driver's callbacks; the host's worker calls the commands)."""

    def __init__(self, robot_id: str, report: Report, *, context: DriverContext, node: Node,
                 namespace: str | None = None, floor: str | None = None,
                 frames: dict[str, str] | None = None, offline_after: float = 10.0,
                 report_every: float = 10.0, action_interface: bool = True,
                 goals: str = "auto", docking: str = "auto",
                 cancel_timeout: float = 2.0) -> None:
        super().__init__(robot_id, report, context)
        for name, value, known in (("goals", goals, GOALS), ("docking", docking, DOCKING)):
            if value not in known:
                raise InputError(f"robot {robot_id}", f"{name} '{value}' is not one of "
                                 f"{', '.join(known)}", field=name)
            if value in ("action", "server") and NavigateToPose is None:
                raise InputError(f"robot {robot_id}", f"{name}: {value} needs nav2_msgs, which "
                                 "is not built here (ros/interfaces/build.py; make builds it)",
                                 field=name)
        if offline_after <= 0 or report_every <= 0:
            raise InputError(f"robot {robot_id}", "offline_after and report_every must be "
                             "positive", field="offline_after")
        ward = context.ward
        if floor is not None and floor not in ward.floors:
            raise InputError(f"robot {robot_id}", f"no floor '{floor}' in ward '{ward.name}'",
                             field="floor")
        self.node = node
        self.ns = namespace if namespace is not None else f"/{robot_id}"
        self.floor = floor
        self.frames = {f: f for f in ward.floors} | dict(frames or {})
        unknown = set(self.frames) - set(ward.floors)
        if unknown:
            raise InputError(f"robot {robot_id}", f"frames name floors the ward does not have: "
                             f"{sorted(unknown)}", field="frames")
        self.floor_of_frame = {frame: f for f, frame in self.frames.items()}
        self.offline_after, self.report_every = offline_after, report_every
        self.action_interface = action_interface
        self.cancel_timeout = cancel_timeout
        self.goals, self.docking = goals, docking
        self.planner = _PLANNERS.setdefault(id(ward), Planner(ward))
        self._lock = threading.RLock()
        self._seen = _Seen()
        self._drive: _Drive | None = None
        self._action: tuple[str, Execution] | None = None
        self._docked_at: str | None = None
        self._on_dock = False              # docked by the docking server: undock first
        self._progress: dict[str, Any] | None = None
        self._offline = False
        self._last_key: tuple[Any, ...] | None = None
        self._last_report = -math.inf
        group = MutuallyExclusiveCallbackGroup()
        ns = self.ns
        self.goal_pub = node.create_publisher(PoseStamped, topic(ns, "goal_pose"), 10)
        self.action_pub = node.create_publisher(String, topic(ns, "carefleet/action"),
                                                QOS_COMMANDS)
        self.cancel_client = node.create_client(
            CancelGoal, topic(ns, "navigate_to_pose/_action/cancel_goal"), callback_group=group)
        actions = NavigateToPose is not None
        self.nav_client = (ActionClient(node, NavigateToPose, topic(ns, "navigate_to_pose"),
                                        callback_group=group)
                           if actions and goals != "topic" else None)
        docks = actions and docking != "pose"
        self.dock_client = (ActionClient(node, DockRobot, topic(ns, "dock_robot"),
                                         callback_group=group) if docks else None)
        self.undock_client = (ActionClient(node, UndockRobot, topic(ns, "undock_robot"),
                                           callback_group=group) if docks else None)
        self._subs = [
            node.create_subscription(Odometry, topic(ns, "odom"), self._on_odom, QOS_SENSOR,
                                     callback_group=group),
            node.create_subscription(PoseWithCovarianceStamped, topic(ns, "amcl_pose"),
                                     self._on_amcl, QOS_SENSOR, callback_group=group),
            node.create_subscription(BatteryState, topic(ns, "battery_state"),
                                     self._on_battery, QOS_SENSOR, callback_group=group),
            node.create_subscription(GoalStatusArray,
                                     topic(ns, "navigate_to_pose/_action/status"),
                                     self._on_goal_status, QOS_ACTION_STATUS,
                                     callback_group=group),
            node.create_subscription(String, topic(ns, "carefleet/action_result"),
                                     self._on_action_result, QOS_COMMANDS, callback_group=group),
            node.create_subscription(String, topic(ns, "carefleet/state"), self._on_state,
                                     QOS_COMMANDS, callback_group=group),
        ]
        self._timer = wall_timer(node, 0.25, self._watch, callback_group=group)

    # == commands (from the host's worker thread) ===========================
    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        route = self.route(command_id)
        goal = (Pose(floor=route[-1].floor, x=route[-1].x, y=route[-1].y,
                     yaw=_heading(route)) if route else self.context.pose_of(waypoint))
        return self._send_goal(command_id, goal, waypoint, dock=False)

    def dock(self, command_id: str, place: str) -> Reply:
        charger = self.context.ward.places.get(place)
        if charger is None:
            return Reply.IMPOSSIBLE
        server = _through(self.dock_client, required=self.docking == "server")
        if server is None:
            return Reply.RETRY                       # the docking server is not up (yet)
        if server:
            goal = DockRobot.Goal(use_dock_id=True, dock_id=charger.id,
                                  navigate_to_staging_pose=True)
            drive = self._begin(command_id, charger.waypoint, dock=True, via="dock")
            self._after_undock(drive, lambda: self._send_action(drive, self.dock_client, goal))
            return Reply.ACCEPTED
        goal = Pose(floor=charger.floor, x=charger.x, y=charger.y)
        return self._send_goal(command_id, goal, charger.waypoint, dock=True)

    def perform(self, command_id: str, action: str, place: str, params: dict[str, Any]) -> Reply:
        if action not in ACTIONS:
            return Reply.IMPOSSIBLE
        if not self.action_interface:
            if action == "scan":
                self.execution(command_id).succeeded(detail="no action interface: scanned")
                return Reply.ACCEPTED
            if action != "attend":
                return Reply.IMPOSSIBLE
        elif self.action_pub.get_subscription_count() == 0:
            return Reply.RETRY                       # the robot is not listening (yet)
        replaced = self._replace(command_id)
        with self._lock:
            self._action = (command_id, self.execution(command_id))
            self._docked_at = None
        if self.action_interface:
            self.action_pub.publish(json_message({"action_id": command_id, "action": action,
                                                  "place": place, "params": params}))
        self._end_replaced(replaced, command_id)
        self._report_now()
        return Reply.ACCEPTED

    def stop(self, command_id: str) -> Reply:
        with self._lock:
            drive = self._drive if self._drive and self._drive.command_id == command_id else None
            action = self._action if self._action and self._action[0] == command_id else None
            if drive is not None:
                self._drive = None
            if action is not None:
                self._action = None
            if self._docked_at is not None and (drive or action) is None:
                self._docked_at = None               # leaving the dock (stop of the charge)
        if drive is not None:
            self._cancel(drive)
            drive.execution.cancelled("stopped")
        if action is not None:
            if self.action_interface:
                self.action_pub.publish(json_message({"action_id": command_id, "cancel": True}))
            action[1].cancelled("stopped")
        self._report_now()
        return Reply.ACCEPTED

    def status(self) -> RobotStatus:
        status = self._status()
        if status is None:
            raise ConnectionError(f"robot {self.robot_id}: no pose from {self.ns} yet")
        return status

    def close(self) -> None:
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self.node.destroy_timer(self._timer)
        self.node.destroy_publisher(self.goal_pub)
        self.node.destroy_publisher(self.action_pub)
        self.node.destroy_client(self.cancel_client)
        for client in (self.nav_client, self.dock_client, self.undock_client):
            if client is not None:
                client.destroy()

    # == commands: the machinery ============================================
    def _send_goal(self, command_id: str, goal: Pose, ends_at: str, *, dock: bool) -> Reply:
        action = _through(self.nav_client, required=self.goals == "action")
        if action is None or (not action and self.goal_pub.get_subscription_count() == 0):
            return Reply.RETRY                       # no navigator listening (yet)
        msg = PoseStamped()
        msg.header.frame_id = self.frames[goal.floor]
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = float(goal.x), float(goal.y)
        msg.pose.orientation.z = math.sin(goal.yaw / 2.0)
        msg.pose.orientation.w = math.cos(goal.yaw / 2.0)
        drive = self._begin(command_id, ends_at, dock=dock, via="action" if action else "topic")
        # Either way the navigator preempts any old goal of ours.
        self._after_undock(drive, (lambda: self._send_action(
            drive, self.nav_client, NavigateToPose.Goal(pose=msg))) if action else
            (lambda: self.goal_pub.publish(msg)))
        return Reply.ACCEPTED

    def _begin(self, command_id: str, ends_at: str, *, dock: bool, via: str) -> _Drive:
        """Make ``command_id`` the drive under way; the one it replaces ends cancelled."""
        replaced = self._replace(command_id)
        with self._lock:
            drive = self._drive = _Drive(command_id, self.execution(command_id), ends_at,
                                         self._now(), frozenset(self._seen.goals), dock=dock,
                                         via=via)
            self._docked_at, self._progress = None, None
        self._end_replaced(replaced, command_id, cancel_old_goal=False)
        self._report_now()
        return drive

    def _after_undock(self, drive: _Drive, start: Callable[[], None]) -> None:
        """``start()`` the drive, after undocking when the docking server docked us (and
        the drive is still ours when the undock ends, whichever way it ends)."""
        with self._lock:
            undock, self._on_dock = self._on_dock, False
        if not undock or self.undock_client is None:
            start()
            return

        def undocked(_drive: _Drive, status: int, _result: Any, detail: str) -> None:
            if status != GoalStatus.STATUS_SUCCEEDED:
                self.node.get_logger().warning(f"{self.robot_id}: undock ended {status} "
                                               f"{detail}; driving all the same")
            with self._lock:
                ours = self._drive is drive
            if ours:
                start()
        self._send_action(drive, self.undock_client, UndockRobot.Goal(), on_end=undocked)

    def _send_action(self, drive: _Drive, client: ActionClient, goal: Any,
                     on_end: Callable[[_Drive, int, Any, str], None] | None = None) -> None:
        """Send ``goal`` for ``drive``; its feedback, and its end (to ``on_end``, by default
        the end of the drive), come back to this driver on the executor's threads."""
        on_end = on_end or self._action_ended
        feedback = ((lambda msg: self._on_feedback(drive, msg)) if client is self.nav_client
                    else None)
        future = client.send_goal_async(goal, feedback_callback=feedback)
        future.add_done_callback(lambda f: self._on_goal_response(drive, f, on_end))

    def _on_goal_response(self, drive: _Drive, future: Any,
                          on_end: Callable[[_Drive, int, Any, str], None]) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            on_end(drive, GoalStatus.STATUS_ABORTED, None, "Nav2 rejected the goal")
            return
        with self._lock:
            drive.handle, drive.goal_id = handle, bytes(handle.goal_id.uuid)
            cancel = drive.cancel_on_accept
        if cancel:
            handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(
            lambda f: on_end(drive, f.result().status, f.result().result, ""))

    def _action_ended(self, drive: _Drive, status: int, result: Any, detail: str) -> None:
        if status == GoalStatus.STATUS_SUCCEEDED and getattr(result, "success", True) is False:
            status = GoalStatus.STATUS_ABORTED       # a dock that says it did not dock
        if result is not None and status != GoalStatus.STATUS_SUCCEEDED:
            detail = result.error_msg or (f"error code {result.error_code}"
                                          if result.error_code else "")
        self._finish_drive(drive, status, detail)

    def _on_feedback(self, drive: _Drive, msg: Any) -> None:
        """NavigateToPose feedback: the drive's distance and time remaining (``progress``)."""
        feedback = msg.feedback
        left = seconds_of(feedback.estimated_time_remaining)
        with self._lock:
            if self._drive is drive:
                self._progress = {"command_id": drive.command_id,
                                  "distance_remaining": round(float(feedback.distance_remaining), 2),
                                  "time_remaining": round(left, 1),
                                  "eta": round(self._now() + left, 1),
                                  "recoveries": int(feedback.number_of_recoveries)}

    def _finish_drive(self, drive: _Drive, status: int, detail: str = "") -> None:
        """The navigator ended ``drive`` (if it is still ours): mark its execution."""
        with self._lock:
            if self._drive is not drive:
                return                               # replaced or stopped already
            self._drive, self._progress = None, None
            if status == GoalStatus.STATUS_SUCCEEDED and drive.dock:
                self._docked_at = drive.ends_at
                self._on_dock = drive.via == "dock"
        outcome = TERMINAL.get(status, "failed")
        if outcome == "succeeded":
            drive.execution.succeeded(position=drive.ends_at)
        elif outcome == "failed":
            drive.execution.failed(detail or f"Nav2 aborted the goal to {drive.ends_at}")
        else:
            drive.execution.cancelled(detail or "Nav2 cancelled the goal")
        self._report_now()

    def _replace(self, command_id: str) -> tuple[_Drive | None, tuple[str, Execution] | None]:
        with self._lock:
            drive, action = self._drive, self._action
            self._drive, self._action = None, None
        drive = drive if drive and drive.command_id != command_id else None
        action = action if action and action[0] != command_id else None
        return drive, action

    def _end_replaced(self, replaced: tuple[_Drive | None, tuple[str, Execution] | None],
                      by: str, *, cancel_old_goal: bool = True) -> None:
        """End what ``by`` replaced. A new goal preempts an old one at the navigator (no
        cancel needed, ``cancel_old_goal=False``), but not a goal of the docking server."""
        drive, action = replaced
        if drive is not None:
            if cancel_old_goal or drive.via == "dock":
                self._cancel(drive)
            drive.execution.cancelled(f"replaced by {by}")
        if action is not None:
            if self.action_interface:
                self.action_pub.publish(json_message({"action_id": action[0], "cancel": True}))
            action[1].cancelled(f"replaced by {by}")

    def _cancel(self, drive: _Drive) -> None:
        """Ask the navigator (or docking server) to cancel ``drive``, the way it was sent."""
        if drive.via == "topic":
            self._cancel_goal(drive.goal_id)
        else:
            self._cancel_action(drive)

    def _cancel_goal(self, goal_id: bytes | None) -> None:
        """Ask the navigator to cancel (our goal, or every goal when we never saw its id)."""
        if not self.cancel_client.service_is_ready():
            self.node.get_logger().warning(f"{self.robot_id}: cancel_goal service not ready")
            return
        request = CancelGoal.Request()
        request.goal_info = GoalInfo()
        if goal_id is not None:
            request.goal_info.goal_id.uuid = list(goal_id)
        self._wait(self.cancel_client.call_async(request), "cancel_goal")

    def _cancel_action(self, drive: _Drive) -> None:
        """Cancel ``drive``'s action goal (once accepted, if the server has not answered)."""
        with self._lock:
            handle = drive.handle
            drive.cancel_on_accept = handle is None
        if handle is not None:
            self._wait(handle.cancel_goal_async(), "the action's cancel")

    def _wait(self, future: Any, what: str) -> None:
        """Wait (at most ``cancel_timeout``) for the navigator's answer to a cancel."""
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(self.cancel_timeout):
            self.node.get_logger().warning(f"{self.robot_id}: {what} did not answer")

    # == what the robot says (executor threads) =============================
    def _on_odom(self, msg: Odometry) -> None:
        now = self._now()
        with self._lock:
            if now - self._seen.amcl_at < max(self.offline_after, 2.0):
                self._seen.pose_at = now               # amcl_pose is the better estimate
                return
        self._pose_from(msg.header.frame_id, msg.pose.pose, now)

    def _on_amcl(self, msg: PoseWithCovarianceStamped) -> None:
        now = self._now()
        with self._lock:
            self._seen.amcl_at = now
        self._pose_from(msg.header.frame_id, msg.pose.pose, now)

    def _pose_from(self, frame: str, pose: Any, now: float) -> None:
        with self._lock:
            last = self._seen.pose
            floor = self.floor_of_frame.get(frame) or self.floor or (last.floor if last else None)
            if floor is None:
                floor = next(iter(self.context.ward.floors))
            yaw = yaw_of(pose.orientation)
            try:
                self._seen.pose = Pose(floor=floor, x=float(pose.position.x),
                                       y=float(pose.position.y), yaw=yaw)
            except InputError:
                return                                   # NaN from a lost localisation
            self._seen.pose_at = now
        self._maybe_report()

    def _on_battery(self, msg: BatteryState) -> None:
        level = msg.percentage
        if level != level:                               # NaN: unknown
            return
        with self._lock:
            self._seen.battery = min(max(float(level), 0.0), 1.0)
            self._seen.charging = msg.power_supply_status in (
                BatteryState.POWER_SUPPLY_STATUS_CHARGING, BatteryState.POWER_SUPPLY_STATUS_FULL)
            self._seen.battery_at = self._now()
        self._maybe_report()

    def _on_state(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            mode = MODES[data["mode"]]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self._seen.mode = (mode, data.get("error"))
        self._report_now()

    def _on_goal_status(self, msg: GoalStatusArray) -> None:
        """How a topic-path drive ends (an action's own result tells the action path)."""
        ended: tuple[_Drive, int] | None = None
        with self._lock:
            goals = {bytes(s.goal_info.goal_id.uuid): s.status for s in msg.status_list}
            stamps = {bytes(s.goal_info.goal_id.uuid): (s.goal_info.stamp.sec,
                                                        s.goal_info.stamp.nanosec)
                      for s in msg.status_list}
            self._seen.goals = goals
            drive = self._drive if self._drive and self._drive.via == "topic" else None
            if drive is not None and drive.goal_id is None:
                fresh = [g for g in goals if g not in drive.known]
                if fresh:
                    drive.goal_id = max(fresh, key=lambda g: stamps[g])
            if drive is not None and drive.goal_id is not None:
                state = goals.get(drive.goal_id)
                if state in TERMINAL:
                    ended = (drive, state)
        if ended is not None:
            self._finish_drive(*ended)

    def _on_action_result(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            action_id, outcome = str(data["action_id"]), str(data["outcome"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            if self._action is None or self._action[0] != action_id:
                return                                   # an old action's late answer
            _, execution = self._action
            self._action = None
        detail = str(data.get("detail", ""))
        if outcome == "succeeded":
            execution.succeeded(detail=detail)
        elif outcome == "cancelled":
            execution.cancelled(detail)
        else:
            execution.failed(detail or "the robot could not do it")
        self._report_now()

    # == status ==============================================================
    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds / 1e9

    def _status(self) -> RobotStatus | None:
        with self._lock:
            seen = self._seen
            if seen.pose is None:
                return None
            battery = 1.0 if seen.battery is None else seen.battery
            command = (self._drive.command_id if self._drive else
                       self._action[0] if self._action else None)
            error = None
            if self._offline:
                mode = DriverMode.OFFLINE
                error = (f"no pose or battery from {self.ns} for more than "
                         f"{self.offline_after:g} s")
                command = None
            elif seen.mode is not None and seen.mode[0] in (DriverMode.ERROR,
                                                            DriverMode.EMERGENCY_STOP):
                mode, error = seen.mode[0], seen.mode[1] or f"robot reports {seen.mode[0].value}"
                command = None
            elif command is not None:
                mode = DriverMode.BUSY
            elif self._docked_at is not None:
                mode = DriverMode.CHARGING
            else:
                mode = DriverMode.READY
            return RobotStatus(robot_id=self.robot_id, pose=seen.pose, battery=battery,
                               mode=mode, error=error, command_id=command)

    def _maybe_report(self) -> None:
        """Report when something the core cares about changed, else every ``report_every``."""
        status = self._status()
        if status is None:
            return
        pose = status.pose
        key = (self.planner.snap(pose.floor, pose.x, pose.y), status.mode, status.error,
               round(status.battery, 2), status.command_id)
        now = self._now()
        with self._lock:
            if key == self._last_key and now - self._last_report < self.report_every:
                return
            self._last_key, self._last_report = key, now
        self.report(status)

    def _report_now(self) -> None:
        with self._lock:
            self._last_key = None
        self._maybe_report()

    def _watch(self) -> None:
        """The offline watchdog (every 0.25 s of wall time, judged in ROS time)."""
        now = self._now()
        with self._lock:
            heard = max(self._seen.pose_at, self._seen.battery_at)
            silent = heard != -math.inf and now - heard > self.offline_after
            changed = silent != self._offline
            self._offline = silent
        if changed:
            self.node.get_logger().warning(
                f"{self.robot_id}: {'offline' if silent else 'back online'}")
            self._report_now()

    @property
    def latest_pose(self) -> Pose | None:
        with self._lock:
            return self._seen.pose

    @property
    def offline(self) -> bool:
        return self._offline

    @property
    def progress(self) -> dict[str, Any] | None:
        """The drive's latest NavigateToPose feedback: ``distance_remaining`` (m),
        ``time_remaining`` (s), ``eta`` (ROS time), ``recoveries``; None when no action
        drive runs (or none has said anything yet)."""
        with self._lock:
            return None if self._progress is None else dict(self._progress)


def _through(client: ActionClient | None, *, required: bool) -> bool | None:
    """Use the action of ``client``? True when its server is up, False for the fallback,
    None when the action is ``required`` but its server is not up (try again)."""
    if client is not None and client.server_is_ready():
        return True
    return None if required else False


def _heading(route: tuple[Any, ...]) -> float:
    """The direction of the route's last leg on its floor (0 when there is none)."""
    if len(route) >= 2 and route[-1].floor == route[-2].floor:
        a, b = route[-2], route[-1]
        if (a.x, a.y) != (b.x, b.y):
            return math.atan2(b.y - a.y, b.x - a.x)
    return 0.0


def new_goal_id() -> bytes:
    return uuidlib.uuid4().bytes


__all__ = ["Nav2Driver", "ACTIONS"]
