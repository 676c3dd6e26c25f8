"""A simulated robot as its own ROS 2 node, behind exactly the Nav2 surface a real one has.

It subscribes ``NS/goal_pose``, publishes ``NS/navigate_to_pose/_action/status``, serves
``NS/navigate_to_pose/_action/cancel_goal``, publishes ``NS/odom`` and
``NS/battery_state``, and does CareFleet actions on ``NS/carefleet/action`` (see
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
default 10); ``battery_rate`` (Hz, default 1); ``step_rate`` (Hz of wall time, default 50);
``record_file``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import random
import sys
from dataclasses import asdict
from typing import Any, Callable

import rclpy
from action_msgs.msg import GoalInfo, GoalStatus, GoalStatusArray
from action_msgs.srv import CancelGoal
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from carefleet.errors import CareFleetError, InputError
from carefleet.maps.model import PlaceKind
from carefleet.maps.routing import Planner
from carefleet.orchestrator.events import CommandResult, DriverMode, Outcome, RobotStatus
from carefleet.robots.drivers.sim import SimRobot
from carefleet.ros.common import (QOS_ACTION_STATUS, QOS_COMMANDS, QOS_LATEST, WORLD_CLOSED,
                                  json_message, new_node, param, spin_until_signal,
                                  start_ros, topic, wall_timer, wait_for_sim_time)
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


class SimNav2Robot:
    """One simulated robot on one node (single-threaded: no locks needed)."""

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
        self._goals: dict[bytes, tuple[GoalInfo, int]] = {}   # insertion-ordered
        self._current: bytes | None = None                    # goal being driven
        self._dock_at: str | None = None                      # charger of the current goal
        self._actions: set[str] = set()
        self._rest: tuple[str, float, float, float] | None = None   # pose when stopped
        self._yaw = 0.0
        self._mode_sent: tuple[str, str | None] | None = None
        ns = self.ns
        self.status_pub = node.create_publisher(
            GoalStatusArray, topic(ns, "navigate_to_pose/_action/status"), QOS_ACTION_STATUS)
        self.odom_pub = node.create_publisher(Odometry, topic(ns, "odom"), 10)
        self.battery_pub = node.create_publisher(BatteryState, topic(ns, "battery_state"), 10)
        self.result_pub = node.create_publisher(String, topic(ns, "carefleet/action_result"),
                                                QOS_COMMANDS)
        self.state_pub = node.create_publisher(String, topic(ns, "carefleet/state"), QOS_COMMANDS)
        node.create_subscription(PoseStamped, topic(ns, "goal_pose"), self._on_goal, 10)
        node.create_subscription(String, topic(ns, "carefleet/action"), self._on_action,
                                 QOS_COMMANDS)
        node.create_subscription(String, topic(ns, "carefleet/sim"), self._on_sim, QOS_COMMANDS)
        node.create_subscription(String, WORLD_CLOSED, self._on_closed, QOS_LATEST)
        node.create_service(CancelGoal, topic(ns, "navigate_to_pose/_action/cancel_goal"),
                            self._on_cancel)
        wall_timer(node, 1.0 / float(param(node, "step_rate", 50.0)), self.world.step)
        wall_timer(node, 1.0 / float(param(node, "odom_rate", 10.0)), self._publish_odom)
        wall_timer(node, 1.0 / float(param(node, "battery_rate", 1.0)), self._publish_battery)
        self._heartbeat()
        self._publish_status()
        self.log.info(f"simulated Nav2 robot {robot_id} at {spec.start} under {ns}")

    # == Nav2's surface =====================================================
    def _on_goal(self, msg: PoseStamped) -> None:
        goal_id = os.urandom(16)
        info = GoalInfo()
        info.goal_id.uuid = list(goal_id)
        info.stamp = self.node.get_clock().now().to_msg()
        self._end_current(GoalStatus.STATUS_ABORTED)           # preempted by the new goal
        floor = msg.header.frame_id if msg.header.frame_id in self.ward.floors else \
            self._pose()[0]
        x, y = msg.pose.position.x, msg.pose.position.y
        waypoint = self.planner.snap(floor, x, y)
        self._goals[goal_id] = (info, GoalStatus.STATUS_ACCEPTED)
        if waypoint is None:
            self._set(goal_id, GoalStatus.STATUS_ABORTED)
            return
        charger = next((p for p in self.ward.places_of_kind(PlaceKind.CHARGER)
                        if p.floor == floor and math.hypot(p.x - x, p.y - y) <= DOCK_RADIUS), None)
        self._current = goal_id
        self._dock_at = charger.id if charger else None
        self._goal_pose = (floor, x, y, _yaw_of(msg.pose.orientation))
        place = charger.id if charger else waypoint
        reply = self.robot.navigate(goal_id.hex(), place, waypoint)
        if reply.value != "accepted":
            self._current = None
            self._set(goal_id, GoalStatus.STATUS_ABORTED)
            return
        self._rest = None
        self._set(goal_id, GoalStatus.STATUS_EXECUTING)

    def _on_cancel(self, request: CancelGoal.Request, response: CancelGoal.Response) -> Any:
        wanted = bytes(request.goal_info.goal_id.uuid)
        everything = not any(wanted)
        targets = [g for g, (_, s) in self._goals.items()
                   if s in (GoalStatus.STATUS_ACCEPTED, GoalStatus.STATUS_EXECUTING)
                   and (everything or g == wanted)]
        for goal_id in targets:
            response.goals_canceling.append(self._goals[goal_id][0])
            if goal_id == self._current:
                self.robot.stop(goal_id.hex())          # reports CANCELLED: see _on_report
            self._set(goal_id, GoalStatus.STATUS_CANCELED)
            if goal_id == self._current:
                self._current = None
        if not targets:
            response.return_code = (CancelGoal.Response.ERROR_GOAL_TERMINATED
                                    if wanted in self._goals else
                                    CancelGoal.Response.ERROR_UNKNOWN_GOAL_ID
                                    if not everything else CancelGoal.Response.ERROR_NONE)
        return response

    def _set(self, goal_id: bytes, status: int) -> None:
        info, _ = self._goals[goal_id]
        self._goals[goal_id] = (info, status)
        while len(self._goals) > KEEP_GOALS:
            self._goals.pop(next(iter(self._goals)))
        self._publish_status()

    def _end_current(self, status: int) -> None:
        if self._current is not None:
            goal_id, self._current = self._current, None
            self._set(goal_id, status)

    def _publish_status(self) -> None:
        msg = GoalStatusArray()
        for info, status in self._goals.values():
            msg.status_list.append(GoalStatus(goal_info=info, status=status))
        self.status_pub.publish(msg)

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
        self._end_current(GoalStatus.STATUS_ABORTED)
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
                self._end_current(GoalStatus.STATUS_ABORTED)
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
        if self._current is None or command != self._current.hex():
            return                                      # a dock's own result, or stale
        goal_id = self._current
        if result.outcome is Outcome.SUCCEEDED:
            self._rest = self._goal_pose
            self._current = None
            if self._dock_at is not None:
                self.robot.dock(f"dock-{goal_id.hex()}", self._dock_at)
            self._set(goal_id, GoalStatus.STATUS_SUCCEEDED)
        elif result.outcome is Outcome.CANCELLED:
            self._current = None
            self._set(goal_id, GoalStatus.STATUS_CANCELED)
        else:
            self._current = None
            self._set(goal_id, GoalStatus.STATUS_ABORTED)

    # == odom and battery ===================================================
    def _pose(self) -> tuple[str, float, float, float]:
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
        floor, x, y, yaw = self._pose()
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

    def write_record(self) -> None:
        if not self.record_file:
            return
        record = self.robot.close_record()
        write_atomically(self.record_file, json.dumps(asdict(record)).encode())


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


def _yaw_of(q: Any) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    start_ros(argv)
    node = new_node("carefleet_sim_robot")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        robot = SimNav2Robot(node, executor)
    except CareFleetError as error:
        print(f"carefleet: error: {error}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2
    executor.remove_node(node)
    return spin_until_signal([node], executor=executor, on_stop=robot.write_record)


if __name__ == "__main__":
    sys.exit(main())
