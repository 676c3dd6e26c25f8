"""A simulated robot as its own ROS 2 node, behind exactly the Nav2 surface a real one has.

Where ``nav2_msgs`` is built (``ros/interfaces/build.py``) it serves the
``NS/navigate_to_pose`` action (``nav2_msgs/action/NavigateToPose``, with feedback:
distance and estimated time remaining) as ``bt_navigator`` does, and a goal on
``NS/goal_pose`` becomes a goal of that action; with ``docking_server: true`` it also
serves opennav_docking's ``NS/dock_robot`` and ``NS/undock_robot`` (``DockRobot`` with a
charger's place id as ``dock_id``, ``UndockRobot``). Without ``nav2_msgs`` (or with
``action_server: false``: a Nav2 seen through its topics only) it subscribes
``NS/goal_pose``, publishes ``NS/navigate_to_pose/_action/status`` and serves
``NS/navigate_to_pose/_action/cancel_goal`` itself. Either way it publishes ``NS/odom``
and ``NS/battery_state``, and does CareFleet actions on ``NS/carefleet/action`` (see
``nav2_driver``). Underneath is the very ``SimRobot`` the simulator drives (routes on the
ward's graph with ``Planner``, lifts and doors, the battery model of ``robots.model``),
on the node's clock: with ``use_sim_time`` the ``/clock`` topic runs it faster than real
time. A goal whose pose is a charger's is a dock: the robot charges there.

Scenario hooks (what the simulator does to a ``SimRobot``) arrive as JSON on
``NS/carefleet/sim``: ``{"fault": "drive failure"}``, ``{"repair": true}``,
``{"estop": true}``, ``{"release": true}``, ``{"battery": 0.1}``, ``{"stuck": 120}``;
the ward's closures on ``/carefleet/world/closed`` (a JSON list). Its mode is published
on ``NS/carefleet/state``. On SIGTERM it writes its timeline (``record_file``) for the
KPIs of ``carefleet ros sim``.

Parameters: ``robot_id``; ``scenario`` or ``site`` (ward and the robot's profile and
start); ``namespace`` (default ``/<robot_id>``); ``start``; ``seed``; ``odom_rate`` (Hz,
default 10; NavigateToPose feedback goes out at the same rate); ``battery_rate`` (Hz,
default 1); ``step_rate`` (Hz of wall time, default 50); ``record_file``;
``action_server`` (default true); ``docking_server`` (default false).

Threads: every callback runs in the node's one mutually exclusive group (so the robot
needs no locks), except the actions' execute callbacks, which only wait (on their own
executor threads) for the drive the accepted-goal callback started to end.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import random
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable

import rclpy
from action_msgs.msg import GoalInfo, GoalStatus, GoalStatusArray
from action_msgs.srv import CancelGoal
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient, ActionServer, CancelResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from carefleet.errors import CareFleetError, InputError
from carefleet.maps.model import PlaceKind
from carefleet.maps.routing import Planner
from carefleet.orchestrator.events import CommandResult, DriverMode, Outcome, RobotStatus
from carefleet.robots.drivers.sim import SimRobot
from carefleet.ros.common import (QOS_ACTION_STATUS, QOS_COMMANDS, QOS_LATEST, WORLD_CLOSED,
                                  DockRobot, NavigateToPose, UndockRobot, duration_of,
                                  json_message, new_node, param, spin_until_signal,
                                  start_ros, topic, wall_timer, wait_for_sim_time, yaw_of)
from carefleet.files import write_atomically

LOAD_TIME = (45.0, 90.0)          # as the simulator's
SCAN_TIME = (15.0, 25.0)
HEARTBEAT = 60.0
KEEP_GOALS = 20                   # finished goals kept in the status array
DOCK_RADIUS = 0.3                 # a goal this close to a charger's pose is a dock
MODE_NAMES = {DriverMode.READY: "ready", DriverMode.BUSY: "busy",
              DriverMode.CHARGING: "charging", DriverMode.ERROR: "error",
              DriverMode.EMERGENCY_STOP: "emergency_stop"}


class _World:
    """The ``SimWorld`` of one robot, on the node's clock; timers run by ``step()``."""

    def __init__(self, node: Any, planner: Planner, rng: random.Random,
                 residents: Any) -> None:
        self._clock = node.get_clock()
        self.planner = planner
        self.closed: frozenset[str] = frozenset()
        self.rng = rng
        self.residents = residents
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    @property
    def now(self) -> float:
        return self._clock.now().nanoseconds / 1e9

    def schedule(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (at, next(self._order), action))

    def action_time(self, robot_id: str, action: str, place: str,
                    params: dict[str, Any]) -> tuple[float, bool] | None:
        residents = self.residents
        if action == "load_trays":
            return self.rng.uniform(*LOAD_TIME), True
        if action == "await_pickup":
            if self.rng.random() < residents.no_pickup_share:
                return None
            return self.rng.uniform(*residents.pickup_delay), True
        if action == "scan":
            return self.rng.uniform(*SCAN_TIME), True
        return None

    def step(self) -> None:
        now = self.now
        while self._timers and self._timers[0][0] <= now:
            _, _, action = heapq.heappop(self._timers)
            action()


@dataclass
class _SimDrive:
    """The drive under way: to a NavigateToPose goal (either surface) or to a dock."""

    key: bytes                          # the goal's id; the SimRobot's command is its hex
    on_end: Callable[[str], None]       # told "succeeded", "failed", "cancelled" or "aborted"
    pose: tuple[str, float, float, float]
    dock_at: str | None                 # the charger to dock at on arrival
    started: float


class SimNav2Robot:
    """One simulated robot on one node (one callback group: no locks needed)."""

    def __init__(self, node: Any, executor: Any) -> None:
        self.node = node
        self.log = node.get_logger()
        robot_id = str(param(node, "robot_id", ""))
        if not robot_id:
            raise InputError("parameters", "robot_id must be given", field="robot_id")
        ward, specs, residents, seed = _world_of(node)
        spec = next((s for s in specs if s.id == robot_id), None)
        if spec is None:
            raise InputError("parameters", f"no robot '{robot_id}' in the fleet", field="robot_id")
        start = str(param(node, "start", ""))
        if start:
            from dataclasses import replace
            spec = replace(spec, start=start)
        if not wait_for_sim_time(node, executor):
            raise InputError("use_sim_time", "no /clock message within 30 s")
        self.ward = ward
        self.planner = Planner(ward)
        self.world = _World(node, self.planner, random.Random(f"{seed}:{robot_id}"), residents)
        self.robot = SimRobot(spec, self._on_report, self.world)
        own = node.get_namespace()
        self.ns = str(param(node, "namespace", own if own != "/" else f"/{robot_id}"))
        self.record_file = str(param(node, "record_file", ""))
        self._drive: _SimDrive | None = None
        self._dock_command: str | None = None                 # the SimRobot's charge
        self._actions: set[str] = set()
        self._rest: tuple[str, float, float, float] | None = None   # pose when stopped
        self._yaw = 0.0
        self._mode_sent: tuple[str, str | None] | None = None
        ns = self.ns
        self.odom_pub = node.create_publisher(Odometry, topic(ns, "odom"), 10)
        self.battery_pub = node.create_publisher(BatteryState, topic(ns, "battery_state"), 10)
        self.result_pub = node.create_publisher(String, topic(ns, "carefleet/action_result"),
                                                QOS_COMMANDS)
        self.state_pub = node.create_publisher(String, topic(ns, "carefleet/state"), QOS_COMMANDS)
        node.create_subscription(String, topic(ns, "carefleet/action"), self._on_action,
                                 QOS_COMMANDS)
        node.create_subscription(String, topic(ns, "carefleet/sim"), self._on_sim, QOS_COMMANDS)
        node.create_subscription(String, WORLD_CLOSED, self._on_closed, QOS_LATEST)
        served, docking = serves_actions(node)
        self.goals: _ActionGoals | _StatusGoals = (_ActionGoals if served else _StatusGoals)(self)
        self.docking = _DockingServer(self) if docking else None
        wall_timer(node, 1.0 / float(param(node, "step_rate", 50.0)), self.world.step)
        wall_timer(node, 1.0 / float(param(node, "odom_rate", 10.0)), self._publish_odom)
        wall_timer(node, 1.0 / float(param(node, "battery_rate", 1.0)), self._publish_battery)
        self._heartbeat()
        self.log.info(f"simulated Nav2 robot {robot_id} at {spec.start} under {ns} "
                      f"({'NavigateToPose action' if served else 'Nav2 topics'}"
                      f"{', docking server' if self.docking else ''})")

    # == driving (for either goal surface and the docking server) ===========
    def start_drive(self, key: bytes, goal: PoseStamped, on_end: Callable[[str], None], *,
                    dock_at: str | None = None) -> bool:
        """Drive to ``goal`` (preempting any drive, as Nav2 does); False: refused at once.

        A goal on a charger's pose is a dock (``docking: pose``), as is a drive the
        docking server starts (``dock_at``): the robot charges on arrival."""
        self._end_drive("aborted")
        floor = goal.header.frame_id if goal.header.frame_id in self.ward.floors else \
            self.pose()[0]
        x, y = goal.pose.position.x, goal.pose.position.y
        waypoint = self.planner.snap(floor, x, y)
        if waypoint is None:
            return False
        if dock_at is None:
            charger = next((p for p in self.ward.places_of_kind(PlaceKind.CHARGER)
                            if p.floor == floor and math.hypot(p.x - x, p.y - y) <= DOCK_RADIUS),
                           None)
            dock_at = charger.id if charger else None
        reply = self.robot.navigate(key.hex(), dock_at or waypoint, waypoint)
        if reply.value != "accepted":
            return False
        self._dock_command = None
        self._rest = None
        self._drive = _SimDrive(key, on_end, (floor, x, y, yaw_of(goal.pose.orientation)),
                                dock_at, self.world.now)
        return True

    def stop_drive(self, key: bytes) -> bool:
        """Cancel the drive ``key`` (False: it is not the one under way)."""
        if self._drive is None or self._drive.key != key:
            return False
        self.robot.stop(key.hex())                # reports CANCELLED: see _on_result
        return True

    def _end_drive(self, outcome: str) -> None:
        drive, self._drive = self._drive, None
        if drive is not None:
            drive.on_end(outcome)

    def undock(self) -> bool:
        """Leave the charger (the docking server's undock); False: not charging."""
        command, self._dock_command = self._dock_command, None
        if command is None:
            return False
        self.robot.stop(command)
        return True

    def feedback(self) -> tuple[_SimDrive, tuple[float, float]] | None:
        """The drive under way and its (metres, seconds) left, for action feedback."""
        left = self.robot.drive_left()
        return (self._drive, left) if self._drive is not None and left is not None else None

    # == CareFleet actions and scenario hooks ===============================
    def _on_action(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            action_id = str(data["action_id"])
        except (ValueError, KeyError, TypeError):
            return
        if data.get("cancel"):
            if action_id in self._actions:
                self.robot.stop(action_id)
            return
        self._end_drive("aborted")
        self._actions.add(action_id)
        reply = self.robot.perform(action_id, str(data.get("action")), str(data.get("place", "")),
                                   dict(data.get("params") or {}))
        if reply.value != "accepted":
            self._actions.discard(action_id)
            self.result_pub.publish(json_message({"action_id": action_id, "outcome": "failed",
                                                  "detail": "the robot cannot do that now"}))

    def _on_sim(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
        except ValueError:
            return
        robot = self.robot
        if "fault" in data:
            robot.break_down(str(data["fault"]))
        if data.get("repair") or data.get("release"):
            robot.repair()
        if data.get("estop"):
            robot.press_estop()
        if "battery" in data:
            robot.set_battery(float(data["battery"]))
        if "stuck" in data:
            robot.get_stuck(float(data["stuck"]))

    def _on_closed(self, msg: String) -> None:
        try:
            closed = frozenset(json.loads(msg.data))
        except (ValueError, TypeError):
            return
        if closed != self.world.closed:
            self.world.closed = closed
            self.robot.passages_changed()

    # == what the SimRobot reports ==========================================
    def _on_report(self, event: Any) -> None:
        if isinstance(event, CommandResult):
            self._on_result(event)
        elif isinstance(event, RobotStatus):
            mode = MODE_NAMES[event.mode]
            if event.mode in (DriverMode.ERROR, DriverMode.EMERGENCY_STOP):
                self._end_drive("aborted")
                for action_id in sorted(self._actions):
                    self.result_pub.publish(json_message({
                        "action_id": action_id, "outcome": "failed",
                        "detail": event.error or mode}))
                self._actions.clear()
            if (mode, event.error) != self._mode_sent:
                self._mode_sent = (mode, event.error)
                self.state_pub.publish(json_message({"mode": mode, "error": event.error}))

    def _on_result(self, result: CommandResult) -> None:
        command = result.command_id
        if command in self._actions:
            self._actions.discard(command)
            self.result_pub.publish(json_message({"action_id": command,
                                                  "outcome": result.outcome.value,
                                                  "detail": result.detail}))
            return
        drive = self._drive
        if drive is None or command != drive.key.hex():
            return                                      # a dock's own result, or stale
        if result.outcome is Outcome.SUCCEEDED:
            self._rest = drive.pose
            if drive.dock_at is not None:
                self._dock_command = f"dock-{drive.key.hex()}"
                self.robot.dock(self._dock_command, drive.dock_at)
        self._end_drive({Outcome.SUCCEEDED: "succeeded",
                         Outcome.CANCELLED: "cancelled"}.get(result.outcome, "failed"))

    # == odom and battery ===================================================
    def pose(self) -> tuple[str, float, float, float]:
        """(floor, x, y, yaw) now: along the route while driving, else where it stopped."""
        robot = self.robot
        route = robot._route                       # the SimRobot's physics, read only
        now = self.world.now
        if route is not None and now > robot._route_start:
            floor, x, y, _ = self.planner.position_along(route, now - robot._route_start,
                                                         robot.profile.speed)
            return floor, x, y, self._yaw
        if self._rest is not None and route is None:
            return self._rest
        w = self.ward.waypoints[robot.position]
        return w.floor, w.x, w.y, self._yaw

    def _publish_odom(self) -> None:
        floor, x, y, yaw = self.pose()
        last = getattr(self, "_last_xy", None)
        if last is not None and last[0] == floor and math.hypot(x - last[1], y - last[2]) > 1e-3:
            yaw = self._yaw = math.atan2(y - last[2], x - last[1])
        self._last_xy = (floor, x, y)
        msg = Odometry()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = floor                # the ward's floor frame (see README)
        msg.child_frame_id = "base_link"
        msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
        msg.pose.pose.orientation.z = math.sin(yaw / 2.0)
        msg.pose.pose.orientation.w = math.cos(yaw / 2.0)
        moving = self.robot._route is not None
        msg.twist.twist.linear.x = float(self.robot.profile.speed if moving else 0.0)
        self.odom_pub.publish(msg)
        self.goals.tick()

    def _publish_battery(self) -> None:
        robot = self.robot
        robot._settle()
        capacity = robot.profile.battery.capacity_wh
        msg = BatteryState()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.percentage = float(max(robot.energy, 0.0) / capacity)
        msg.design_capacity = float(capacity)
        msg.present = True
        msg.power_supply_status = (BatteryState.POWER_SUPPLY_STATUS_CHARGING
                                   if robot.mode is DriverMode.CHARGING else
                                   BatteryState.POWER_SUPPLY_STATUS_DISCHARGING)
        self.battery_pub.publish(msg)

    def _heartbeat(self) -> None:
        self.robot.heartbeat()
        self.world.schedule(self.world.now + HEARTBEAT, self._heartbeat)

    def on_stop(self) -> None:
        """On SIGINT/SIGTERM: release the actions' waiting threads (else the executor's
        threads never end), write the timeline."""
        for surface in (self.goals, self.docking):
            if surface is not None:
                surface.release()
        if not self.record_file:
            return
        record = self.robot.close_record()
        write_atomically(self.record_file, json.dumps(asdict(record)).encode())


class _Ended:
    """How a goal's drive ended, handed from the node's callbacks to the thread on which
    the action's execute callback waits (the first outcome told is kept)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.outcome = ""

    def set(self, outcome: str) -> None:
        if not self._event.is_set():
            self.outcome = outcome
            self._event.set()

    def wait(self) -> str:
        self._event.wait()
        return self.outcome


class _StatusGoals:
    """NavigateToPose seen through Nav2's topics only: goals on ``NS/goal_pose``, their
    states on ``NS/navigate_to_pose/_action/status``, cancel by its ``cancel_goal``
    service (a robot without ``nav2_msgs`` here; the driver's topic path)."""

    def __init__(self, robot: SimNav2Robot) -> None:
        self.robot = robot
        node, ns = robot.node, robot.ns
        self._goals: dict[bytes, tuple[GoalInfo, int]] = {}   # insertion-ordered
        self.status_pub = node.create_publisher(
            GoalStatusArray, topic(ns, "navigate_to_pose/_action/status"), QOS_ACTION_STATUS)
        node.create_subscription(PoseStamped, topic(ns, "goal_pose"), self._on_goal, 10)
        node.create_service(CancelGoal, topic(ns, "navigate_to_pose/_action/cancel_goal"),
                            self._on_cancel)
        self._publish()

    def _on_goal(self, msg: PoseStamped) -> None:
        goal_id = os.urandom(16)
        info = GoalInfo()
        info.goal_id.uuid = list(goal_id)
        info.stamp = self.robot.node.get_clock().now().to_msg()
        self._goals[goal_id] = (info, GoalStatus.STATUS_ACCEPTED)
        started = self.robot.start_drive(goal_id, msg, lambda outcome: self._ended(goal_id,
                                                                                   outcome))
        self._set(goal_id, GoalStatus.STATUS_EXECUTING if started else GoalStatus.STATUS_ABORTED)

    def _ended(self, goal_id: bytes, outcome: str) -> None:
        self._set(goal_id, {"succeeded": GoalStatus.STATUS_SUCCEEDED,
                            "cancelled": GoalStatus.STATUS_CANCELED}.get(
                                outcome, GoalStatus.STATUS_ABORTED))

    def _on_cancel(self, request: CancelGoal.Request, response: CancelGoal.Response) -> Any:
        wanted = bytes(request.goal_info.goal_id.uuid)
        everything = not any(wanted)
        targets = [g for g, (_, s) in self._goals.items()
                   if s in (GoalStatus.STATUS_ACCEPTED, GoalStatus.STATUS_EXECUTING)
                   and (everything or g == wanted)]
        for goal_id in targets:
            response.goals_canceling.append(self._goals[goal_id][0])
            if not self.robot.stop_drive(goal_id):     # else CANCELLED comes back: _ended
                self._set(goal_id, GoalStatus.STATUS_CANCELED)
        if not targets:
            response.return_code = (CancelGoal.Response.ERROR_GOAL_TERMINATED
                                    if wanted in self._goals else
                                    CancelGoal.Response.ERROR_UNKNOWN_GOAL_ID
                                    if not everything else CancelGoal.Response.ERROR_NONE)
        return response

    def _set(self, goal_id: bytes, status: int) -> None:
        if goal_id not in self._goals:
            return                                     # long forgotten (KEEP_GOALS)
        info, _ = self._goals[goal_id]
        self._goals[goal_id] = (info, status)
        while len(self._goals) > KEEP_GOALS:
            self._goals.pop(next(iter(self._goals)))
        self._publish()

    def _publish(self) -> None:
        msg = GoalStatusArray()
        for info, status in self._goals.values():
            msg.status_list.append(GoalStatus(goal_info=info, status=status))
        self.status_pub.publish(msg)

    def tick(self) -> None:
        """Nothing to do at the odom rate: Nav2's topics carry no feedback."""

    def release(self) -> None:
        """Nothing waits on this surface."""


class _ActionGoals:
    """NavigateToPose served as ``bt_navigator`` serves it: the ``NS/navigate_to_pose``
    action, and a pose on ``NS/goal_pose`` sent as a goal of that action by the node's
    own client, so both arrive at one place. A new goal preempts (aborts) the old one."""

    def __init__(self, robot: SimNav2Robot) -> None:
        self.robot = robot
        node, ns = robot.node, robot.ns
        name = topic(ns, "navigate_to_pose")
        self._ends: dict[bytes, _Ended] = {}
        self._handles: dict[bytes, ServerGoalHandle] = {}
        self.server = ActionServer(node, NavigateToPose, name, execute_callback=self._execute,
                                   handle_accepted_callback=self._accepted,
                                   cancel_callback=lambda _handle: CancelResponse.ACCEPT)
        self._own = ActionClient(node, NavigateToPose, name)
        node.create_subscription(PoseStamped, topic(ns, "goal_pose"), self._on_goal_pose, 10)

    def _on_goal_pose(self, msg: PoseStamped) -> None:
        self._own.send_goal_async(NavigateToPose.Goal(pose=msg))

    def _accepted(self, handle: ServerGoalHandle) -> None:
        key = bytes(handle.goal_id.uuid)
        ended = self._ends[key] = _Ended()
        self._handles[key] = handle
        if not self.robot.start_drive(key, handle.request.pose, ended.set):
            ended.set("failed")
        handle.execute()

    def _execute(self, handle: ServerGoalHandle) -> Any:
        """On an executor thread of its own: wait for the drive's end, then say it."""
        key = bytes(handle.goal_id.uuid)
        outcome = self._ends[key].wait()
        self._handles.pop(key, None)
        self._ends.pop(key, None)
        result = NavigateToPose.Result()
        if outcome == "succeeded":
            handle.succeed()
        elif outcome == "cancelled" and handle.is_cancel_requested:
            handle.canceled()
        else:
            result.error_msg = "preempted by a newer goal" if outcome == "aborted" else outcome
            handle.abort()
        return result

    def tick(self) -> None:
        """At the odom rate: stop the drives whose goals are asked to cancel (the state is
        CANCELING by now), then publish the drive's feedback."""
        for key, handle in list(self._handles.items()):
            ended = self._ends.get(key)                # gone: its execute thread is done
            if handle.is_cancel_requested and ended and not self.robot.stop_drive(key):
                ended.set("cancelled")                 # accepted, never driven
        now = self.robot.world.now
        under_way = self.robot.feedback()
        if under_way is None:
            return
        drive, (metres, seconds) = under_way
        handle = self._handles.get(drive.key)
        if handle is None or not handle.is_active:
            return
        floor, x, y, yaw = self.robot.pose()
        feedback = NavigateToPose.Feedback()
        feedback.current_pose.header.frame_id = floor
        feedback.current_pose.header.stamp = self.robot.node.get_clock().now().to_msg()
        feedback.current_pose.pose.position.x, feedback.current_pose.pose.position.y = x, y
        feedback.current_pose.pose.orientation.z = math.sin(yaw / 2.0)
        feedback.current_pose.pose.orientation.w = math.cos(yaw / 2.0)
        feedback.navigation_time = duration_of(now - drive.started)
        feedback.estimated_time_remaining = duration_of(seconds)
        feedback.distance_remaining = float(metres)
        handle.publish_feedback(feedback)

    def release(self) -> None:
        """Let every waiting execute callback return (the goals end ABORTED)."""
        for ended in list(self._ends.values()):
            ended.set("aborted")


class _DockingServer:
    """opennav_docking's surface: ``NS/dock_robot`` (``DockRobot``; ``dock_id`` is a
    charger's place id, or ``use_dock_id: false`` and a charger's ``dock_pose``) drives
    to the charger and docks; ``NS/undock_robot`` (``UndockRobot``) leaves it."""

    def __init__(self, robot: SimNav2Robot) -> None:
        self.robot = robot
        node, ns = robot.node, robot.ns
        self._ends: dict[bytes, _Ended] = {}
        ActionServer(node, DockRobot, topic(ns, "dock_robot"), execute_callback=self._docked,
                     handle_accepted_callback=self._dock)
        ActionServer(node, UndockRobot, topic(ns, "undock_robot"),
                     execute_callback=self._undocked, handle_accepted_callback=self._undock)

    def release(self) -> None:
        for ended in list(self._ends.values()):
            ended.set("aborted")

    def _charger(self, goal: Any) -> Any:
        chargers = self.robot.ward.places_of_kind(PlaceKind.CHARGER)
        if goal.use_dock_id:
            return next((c for c in chargers if c.id == goal.dock_id), None)
        pose = goal.dock_pose
        return next((c for c in chargers if c.floor == pose.header.frame_id and math.hypot(
            c.x - pose.pose.position.x, c.y - pose.pose.position.y) <= DOCK_RADIUS), None)

    def _dock(self, handle: ServerGoalHandle) -> None:
        key = bytes(handle.goal_id.uuid)
        ended = self._ends[key] = _Ended()
        charger = self._charger(handle.request)
        if charger is None:
            ended.set("not in the dock database")
        else:
            pose = PoseStamped()
            pose.header.frame_id = charger.floor
            pose.pose.position.x, pose.pose.position.y = float(charger.x), float(charger.y)
            if not self.robot.start_drive(key, pose, ended.set, dock_at=charger.id):
                ended.set("failed")
        handle.execute()

    def _docked(self, handle: ServerGoalHandle) -> Any:
        """On an executor thread of its own: wait for the drive to the dock to end."""
        outcome = self._ends.pop(bytes(handle.goal_id.uuid)).wait()
        result = DockRobot.Result()
        result.success = outcome == "succeeded"
        if result.success:
            handle.succeed()
            return result
        result.error_code = (DockRobot.Result.DOCK_NOT_IN_DB
                             if outcome == "not in the dock database" else
                             DockRobot.Result.FAILED_TO_STAGE)
        result.error_msg = outcome
        handle.abort()
        return result

    def _undock(self, handle: ServerGoalHandle) -> None:
        ended = self._ends[bytes(handle.goal_id.uuid)] = _Ended()
        ended.set("succeeded" if self.robot.undock() else "not docked")
        handle.execute()

    def _undocked(self, handle: ServerGoalHandle) -> Any:
        outcome = self._ends.pop(bytes(handle.goal_id.uuid)).wait()
        result = UndockRobot.Result()
        result.success = outcome == "succeeded"
        if result.success:
            handle.succeed()
        else:
            result.error_code, result.error_msg = UndockRobot.Result.DOCK_NOT_VALID, outcome
            handle.abort()
        return result


def serves_actions(node: Any) -> tuple[bool, bool]:
    """(NavigateToPose action server?, docking server?) by the node's parameters and
    whether ``nav2_msgs`` is built here."""
    docking = bool(param(node, "docking_server", False))
    if docking and DockRobot is None:
        raise InputError("docking_server", "needs nav2_msgs (ros/interfaces/build.py)")
    return NavigateToPose is not None and bool(param(node, "action_server", True)), docking


def _world_of(node: Any) -> tuple[Any, Any, Any, int]:
    scenario, site = str(param(node, "scenario", "")), str(param(node, "site", ""))
    if bool(scenario) == bool(site):
        raise InputError("parameters", "give exactly one of 'scenario' and 'site'",
                         field="scenario")
    if scenario:
        from carefleet.simulation.scenario import load_scenario
        s = load_scenario(scenario)
        return s.ward, s.robots, s.residents, int(param(node, "seed", s.seed))
    from carefleet.service.site import load_site, site_path
    from carefleet.simulation.scenario import Residents
    loaded = load_site(site_path(site))
    return loaded.ward, loaded.robots, Residents(no_pickup_share=0.0), int(param(node, "seed", 1))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    start_ros(argv)
    node = new_node("carefleet_sim_robot")
    try:
        # The actions' execute callbacks wait on threads of their own; without actions
        # one thread does (a multi-threaded executor costs about twice the CPU idle).
        executor = (MultiThreadedExecutor(num_threads=4) if any(serves_actions(node))
                    else SingleThreadedExecutor())
        executor.add_node(node)
        robot = SimNav2Robot(node, executor)
    except CareFleetError as error:
        print(f"carefleet: error: {error}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2
    executor.remove_node(node)
    return spin_until_signal([node], executor=executor, on_stop=robot.on_stop)


if __name__ == "__main__":
    sys.exit(main())
