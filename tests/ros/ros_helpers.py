"""Multi-process ROS 2 tests over loopback DDS.

Every test run gets its own ``ROS_DOMAIN_ID`` (a free one, held by a lock file under
/tmp for the run's lifetime) and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, set here
before rclpy starts, so parallel runs on one machine never see each other and no DDS
packet leaves 127.0.0.1. Nothing sleeps a fixed time: every wait is for a condition
(a matched subscriber, a message) with a deadline.

Without rclpy (the ``ros`` extra) every test in this folder is skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCENARIO = HERE / "two_robots.yaml"


def _claim_domain() -> tuple[int, Any]:
    """A ROS domain id no other test run on this machine holds (1..100)."""
    first = os.getpid() % 100
    for i in range(100):
        domain = (first + i) % 100 + 1
        handle = open(f"/tmp/carefleet-ros-domain-{domain}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return domain, handle
    raise RuntimeError("no free ROS domain id in 1..100")


DOMAIN, _DOMAIN_LOCK = _claim_domain()
os.environ["ROS_DOMAIN_ID"] = str(DOMAIN)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)       # ignored by Kilted anyway


def wait_for(condition: Callable[[], Any], timeout: float, what: Any,
             poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


class Proc:
    """One node process (``python -m MODULE --ros-args -p k:=v ...``), logged to a file."""

    def __init__(self, name: str, module: str, params: dict[str, Any], log_dir: Path,
                 extra: list[str] | None = None) -> None:
        args = [sys.executable, "-m", module, *(extra or []), "--ros-args"]
        for key, value in params.items():
            args += ["-p", f"{key}:={_ros_value(value)}"]
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.popen = subprocess.Popen(args, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                      cwd=REPO, env=dict(os.environ), start_new_session=True)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
                raise AssertionError(f"{self.name} did not stop on {sig!r}: {self.text()[-2000:]}")
        return self.popen.returncode

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait(5)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _ros_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Client:
    """The test's own node: the task API, fleet_state, alerts and any topic it watches."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        from std_msgs.msg import String

        from carefleet.ros.common import (ALERTS, FLEET_STATE, QOS_ALERTS, QOS_API, QOS_LATEST,
                                          TASK_REQUESTS, TASK_RESPONSES)
        if not rclpy.ok():
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        self.rclpy = rclpy
        self.node = rclpy.create_node(f"carefleet_test_client_{os.getpid()}")
        self.lock = threading.Lock()
        self.responses: dict[Any, dict[str, Any]] = {}
        self.fleet: dict[str, Any] | None = None
        self.alerts: list[dict[str, Any]] = []
        self.navigation: dict[str, list[dict[str, Any]]] = {}   # every drive feedback shown
        self.String = String
        self.node.create_subscription(String, TASK_RESPONSES, self._on_response, QOS_API)
        self.node.create_subscription(String, FLEET_STATE, self._on_fleet, QOS_LATEST)
        self.node.create_subscription(String, ALERTS, self._on_alert, QOS_ALERTS)
        self.requests = self.node.create_publisher(String, TASK_REQUESTS, QOS_API)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()
        self._n = 0

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:
            pass

    def _on_response(self, msg: Any) -> None:
        body = json.loads(msg.data)
        with self.lock:
            self.responses[body.get("request_id")] = body

    def _on_fleet(self, msg: Any) -> None:
        fleet = json.loads(msg.data)
        with self.lock:
            self.fleet = fleet
            for robot in fleet["robots"]:
                if robot.get("navigation"):
                    self.navigation.setdefault(robot["id"], []).append(robot["navigation"])

    def _on_alert(self, msg: Any) -> None:
        with self.lock:
            self.alerts.append(json.loads(msg.data))

    def reset(self) -> None:
        """Forget what an earlier ward said (its fleet state, alerts)."""
        with self.lock:
            self.fleet, self.alerts, self.navigation = None, [], {}
        # A transient-local publisher would replay an earlier test's requests to a new
        # orchestrator with an empty store: each ward gets a fresh one.
        from carefleet.ros.common import QOS_API, TASK_REQUESTS
        self.node.destroy_publisher(self.requests)
        self.requests = self.node.create_publisher(self.String, TASK_REQUESTS, QOS_API)

    def request(self, body: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
        self._n += 1
        request_id = body.setdefault("request_id", f"test-{os.getpid()}-{self._n}")
        wait_for(lambda: self.requests.get_subscription_count() > 0, 20.0,
                 "the orchestrator's task_api_requests subscription")
        self.requests.publish(self.String(data=json.dumps(body)))
        return wait_for(lambda: self.responses.get(request_id), timeout,
                        f"the answer to {request_id}")

    def robot(self, robot_id: str) -> dict[str, Any] | None:
        with self.lock:
            fleet = self.fleet
        if fleet is None:
            return None
        return next((r for r in fleet["robots"] if r["id"] == robot_id), None)

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self.lock:
            fleet = self.fleet
        if fleet is None:
            return None
        return next((t for t in fleet["tasks"] if t["id"] == task_id), None)

    def watch(self, msg_type: Any, name: str, qos: Any, *, matched: bool = False) -> list[Any]:
        """Keep every message of a topic in the list returned; ``matched``: first wait
        until a publisher is matched (a volatile topic says nothing to a late joiner)."""
        got: list[Any] = []
        sub = self.node.create_subscription(msg_type, name, got.append, qos)
        if matched:
            wait_for(lambda: sub.get_publisher_count() > 0, 20, f"a publisher on {name}")
        return got

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()


class Ward:
    """A simulated ward over DDS: /clock, the orchestrator, one process per robot."""

    def __init__(self, tmp: Path, *, speed: float = 20.0, scenario: Path = SCENARIO,
                 offline_after: float = 20.0, driver: dict[str, Any] | None = None,
                 sim: dict[str, Any] | None = None) -> None:
        """``driver``: Nav2 driver settings for every robot (``goals``, ``docking`` ...);
        ``sim``: parameters of every simulated robot (``action_server`` ...)."""
        from carefleet.simulation.scenario import load_scenario
        self.scenario = load_scenario(scenario)
        self.tmp = tmp
        self.store = tmp / "tasks.db"
        self.procs: dict[str, Proc] = {}
        self.killed: set[str] = set()
        self.sim = dict(sim or {})
        common = {"use_sim_time": True}
        per_robot = {f"robots.{spec.id}.{key}": value for spec in self.scenario.robots
                     for key, value in (driver or {}).items()}
        self.procs["clock"] = Proc("clock", "carefleet.ros.clock_node",
                                   {"speed": float(speed), "start": self.scenario.start}, tmp)
        self.procs["orchestrator"] = Proc("orchestrator", "carefleet.ros.orchestrator_node", {
            **common, "scenario": scenario, "store": self.store,
            "offline_after": float(offline_after), "fleet_state_period": 0.2, **per_robot}, tmp)
        for spec in self.scenario.robots:
            self.start_robot(spec.id, scenario)

    def start_robot(self, robot_id: str, scenario: Path = SCENARIO) -> None:
        self.procs[robot_id] = Proc(robot_id, "carefleet.ros.sim_robot_node", {
            "use_sim_time": True, "robot_id": robot_id, "scenario": scenario, **self.sim},
            self.tmp)

    def wait_ready(self, client: Client, timeout: float = 40.0) -> None:
        ids = [spec.id for spec in self.scenario.robots]

        def ready() -> bool:
            for name, proc in self.procs.items():
                if proc.popen.poll() is not None:
                    raise AssertionError(f"{name} exited early: {proc.text()[-3000:]}")
            return all((client.robot(i) or {}).get("heard") for i in ids)
        wait_for(ready, timeout, "every robot heard by the orchestrator")

    def stop(self) -> dict[str, int]:
        codes = {}
        for name, proc in reversed(list(self.procs.items())):
            codes[name] = proc.stop()
        return codes

    def logs(self) -> str:
        return "\n".join(f"== {n}\n{p.text()[-3000:]}" for n, p in self.procs.items())


