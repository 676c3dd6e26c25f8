"""What every CareFleet ROS 2 process shares: start-up, shutdown, QoS, clocks, parameters.

- ``start_ros(argv)`` initialises rclpy *without* its own signal handlers (they shut the
  context down under a spinning executor); ``spin_until_signal`` installs ours: SIGINT
  and SIGTERM set a flag, the executor is stopped, nodes are destroyed, exit code 0.
- ``NodeClock`` is a host ``Clock`` reading the node's clock: ROS time, so with
  ``use_sim_time`` the ``/clock`` topic drives the orchestrator.
- ``params(node, prefix)`` turns flattened parameters (``robots.tray_1.namespace``) back
  into nested dicts, so a parameter file can say ``robots: {tray_1: {namespace: ...}}``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any, Callable, Iterable

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import Executor, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_action_status_default)
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String

#: The task API's topics (as Open-RMF's): reliable and transient local, depth 10, so a
#: late subscriber still gets the last answers.
QOS_API = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Latest-value topics (fleet state, closures): a late joiner gets the current one.
QOS_LATEST = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Alerts and staff notifications: the last hundred for a dashboard that joins late.
QOS_ALERTS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Commands to one robot (its CareFleet actions, scenario faults): reliable, volatile.
QOS_COMMANDS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
#: Sensor streams (odom, amcl_pose, battery_state) are read best effort, which matches
#: both reliable and best-effort publishers.
QOS_SENSOR = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
#: An action's status topic, as rcl_action publishes it (reliable, transient local, 1).
QOS_ACTION_STATUS = qos_profile_action_status_default

#: Task API topic names (relative: they take the node's namespace).
TASK_REQUESTS = "task_api_requests"
TASK_RESPONSES = "task_api_responses"
FLEET_STATE = "fleet_state"
ALERTS = "alerts"
#: Which passages of the simulated ward are closed (a JSON list), for simulated robots.
WORLD_CLOSED = "/carefleet/world/closed"


def start_ros(argv: list[str] | None = None) -> list[str]:
    """``rclpy.init`` with our own signal handling; returns the non-ROS arguments."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    return rclpy.utilities.remove_ros_args(argv or [])


class Stopper:
    """SIGINT/SIGTERM set ``event`` (the first one; a second SIGINT is a hard exit)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> "Stopper":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            os._exit(130)
        self.signal = signum
        self.event.set()

    def wait(self, condition: Callable[[], bool] | None = None) -> None:
        """Until a signal (or ``condition()`` is true), waking often enough for signals."""
        while not self.event.wait(0.1):
            if condition is not None and condition():
                return


def spin_in_thread(executor: Executor) -> threading.Thread:
    thread = threading.Thread(target=_spin, args=(executor,), name="rclpy", daemon=True)
    thread.start()
    return thread


def _spin(executor: Executor) -> None:
    try:
        executor.spin()
    except Exception:              # the context was shut down under it: we are stopping
        if rclpy.ok():
            raise


def spin_until_signal(nodes: Iterable[Node], *, executor: Executor | None = None,
                      on_stop: Callable[[], None] | None = None,
                      condition: Callable[[], bool] | None = None) -> int:
    """Spin ``nodes`` on a thread until SIGINT/SIGTERM, then stop cleanly (returns 0)."""
    stopper = Stopper().install()
    executor = executor or MultiThreadedExecutor(num_threads=4)
    nodes = list(nodes)
    for node in nodes:
        executor.add_node(node)
    thread = spin_in_thread(executor)
    try:
        stopper.wait(condition)
    finally:
        if on_stop is not None:
            on_stop()
        executor.shutdown(timeout_sec=2.0)
        thread.join(timeout=5.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


class NodeClock:
    """The host's ``Clock`` on a node's clock (ROS time: ``/clock`` under ``use_sim_time``)."""

    def __init__(self, node: Node) -> None:
        self._clock = node.get_clock()

    def now(self) -> float:
        return self._clock.now().nanoseconds / 1e9


def wall_timer(node: Node, period: float, callback: Callable[[], None], **kw: Any) -> Any:
    """A timer on the steady clock: ``period`` wall seconds whatever ``/clock`` does."""
    return node.create_timer(period, callback, clock=Clock(clock_type=ClockType.STEADY_TIME),
                             **kw)


def wait_for_sim_time(node: Node, executor: Executor, timeout: float = 30.0) -> bool:
    """Under ``use_sim_time``, spin until the first ``/clock`` message has arrived."""
    if not node.get_parameter("use_sim_time").value:
        return True
    deadline = time.monotonic() + timeout
    while node.get_clock().now().nanoseconds == 0:
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.05)
    return True


def param(node: Node, name: str, default: Any) -> Any:
    """A parameter's value (from the parameter file or ``-p``), else ``default``."""
    if node.has_parameter(name):
        value = node.get_parameter(name).value
        return default if value is None else value
    return default


def params(node: Node, prefix: str) -> dict[str, Any]:
    """Every parameter under ``prefix.`` as a nested dict (``a.b.c: 1`` -> ``{a: {b: {c: 1}}}``)."""
    nested: dict[str, Any] = {}
    for name, parameter in node.get_parameters_by_prefix(prefix).items():
        parts = name.split(".")
        here = nested
        for part in parts[:-1]:
            here = here.setdefault(part, {})
        here[parts[-1]] = _plain(parameter.value)
    return nested


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
        return list(value)
    return value


def new_node(name: str, **kw: Any) -> Node:
    """A node that takes every parameter its parameter file gives it."""
    return Node(name, automatically_declare_parameters_from_overrides=True,
                allow_undeclared_parameters=True, **kw)


def json_message(data: Any) -> String:
    return String(data=json.dumps(data, separators=(",", ":"), default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "value"):            # enums
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def topic(namespace: str, name: str) -> str:
    """``/tray_1`` + ``odom`` -> ``/tray_1/odom`` (an empty namespace: ``/odom``)."""
    return f"{namespace.rstrip('/')}/{name}" if namespace.strip("/") else f"/{name}"


def set_parameters(node: Node, values: dict[str, Any]) -> None:
    node.set_parameters([Parameter(k, value=v) for k, v in values.items()])
