"""``carefleet ros sim``: a scenario played over ROS 2, every piece its own process.

The orchestrator node and one simulated Nav2 robot node per robot run as separate
processes; this process is the scenario's world: it owns ``/clock`` (held until every
robot is heard, then ``speed`` times faster than real time), plays the scripted
happenings at their simulated times through the same interfaces a real ward uses
(falls, calls, closures and tasks on the task API; robot faults on each robot's
``carefleet/sim`` topic; a ``restart`` SIGKILLs the orchestrator process and starts it
again on its store) and plays the nurses who answer alerts. At the end it reads the
store and the robots' timelines and judges the day with the very KPIs and expectations
of ``carefleet sim`` (``simulation/kpi.py``).
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from std_msgs.msg import String

from carefleet.orchestrator.store import TaskStore
from carefleet.ros.clock_node import SimClock
from carefleet.ros.common import (ALERTS, FLEET_STATE, QOS_ALERTS, QOS_API, QOS_COMMANDS,
                                  QOS_LATEST, TASK_REQUESTS, TASK_RESPONSES, WORLD_CLOSED,
                                  json_message, spin_in_thread, topic)
from carefleet.simulation.cameras import watch_scene
from carefleet.simulation.result import (Happening as Shown, Notification, RobotRecord,
                                         Segment, SimResult)
from carefleet.simulation.scenario import Happening, Scenario
from carefleet.simulation.telling import Teller


class ProcessError(RuntimeError):
    """A node process of the run exited on its own."""


class Player:
    """One run of ``scenario`` over DDS; ``run()`` returns the ``SimResult``."""

    def __init__(self, scenario: Scenario, *, speed: float = 100.0, db: str | None = None,
                 work_dir: str | None = None, progress: Callable[[float], None] | None = None,
                 ready_timeout: float = 60.0) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.scenario = scenario
        self.speed = speed
        self.tell = Teller(scenario.ward)
        self._tmp = None if work_dir else tempfile.TemporaryDirectory(prefix="carefleet-ros-sim-")
        self.dir = Path(work_dir or self._tmp.name)          # type: ignore[union-attr]
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = Path(db) if db else self.dir / "tasks.sqlite"
        self.progress = progress
        self.ready_timeout = ready_timeout
        self.rng = random.Random(scenario.seed)
        self.node = rclpy.create_node("carefleet_scenario_player")
        # /clock ticks often enough that the nodes' time moves in steps of about 1 s
        self.tick_rate = min(max(100.0, speed), 400.0)
        self.clock = SimClock(self.node, speed=speed, start=scenario.start, paused=True,
                              rate=self.tick_rate)
        self.requests = self.node.create_publisher(String, TASK_REQUESTS, QOS_API)
        self.closed_pub = self.node.create_publisher(String, WORLD_CLOSED, QOS_LATEST)
        self.sim_pubs = {spec.id: self.node.create_publisher(
            String, topic(f"/{spec.id}", "carefleet/sim"), QOS_COMMANDS)
            for spec in scenario.robots}
        self._lock = threading.Lock()
        self.fleet: dict[str, Any] | None = None
        self.answers: dict[str, dict[str, Any]] = {}
        self._alerts: list[dict[str, Any]] = []
        self.node.create_subscription(String, FLEET_STATE, self._on_fleet, QOS_LATEST)
        self.node.create_subscription(String, TASK_RESPONSES, self._on_answer, QOS_API)
        self.node.create_subscription(String, ALERTS, self._on_alert, QOS_ALERTS)
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(self.node)
        self._spinner = spin_in_thread(self.executor)
        self.procs: dict[str, subprocess.Popen] = {}
        self.shown: list[Shown] = []
        self.notifications: list[Notification] = []
        self.closed: set[str] = set()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._ids = itertools.count(1)
        self.restarts = 0
        self.offline_after = max(60.0, 3.0 * speed)     # >= 3 s of wall time
        self.env = dict(os.environ)
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    # == processes ===========================================================
    def _spawn(self, name: str, module: str, params: dict[str, Any]) -> None:
        args = [sys.executable, "-m", module, "--ros-args"]
        for key, value in params.items():
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        log = (self.dir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            env=self.env, start_new_session=True)

    def _start_orchestrator(self) -> None:
        self._spawn("orchestrator", "carefleet.ros.orchestrator_node", {
            "use_sim_time": True, "scenario": self.scenario.source, "store": self.store,
            "offline_after": float(self.offline_after), "fleet_state_period": 0.1})

    def _start_robots(self) -> None:
        for spec in self.scenario.robots:
            self._spawn(spec.id, "carefleet.ros.sim_robot_node", {
                "use_sim_time": True, "robot_id": spec.id, "scenario": self.scenario.source,
                "seed": self.scenario.seed, "step_rate": self.tick_rate,
                "record_file": self.dir / f"{spec.id}.record.json"})

    def _check_processes(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = (self.dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise ProcessError(f"the {name} node exited ({proc.returncode}): {log}")

    def _wait_ready(self) -> None:
        ids = [spec.id for spec in self.scenario.robots]
        deadline = time.monotonic() + self.ready_timeout
        while True:
            self._check_processes()
            with self._lock:
                fleet = self.fleet
            robots = {r["id"]: r for r in (fleet or {}).get("robots", [])}
            if all(robots.get(i, {}).get("heard") for i in ids) and \
                    self.requests.get_subscription_count() > 0:
                return
            if time.monotonic() > deadline:
                raise ProcessError(f"not every node was up within {self.ready_timeout:g} s "
                                   f"(heard: {sorted(i for i in ids if robots.get(i, {}).get('heard'))})")
            time.sleep(0.05)

    # == the run ===========================================================
    def run(self) -> SimResult:
        started = time.perf_counter()
        scenario = self.scenario
        self.closed_pub.publish(json_message([]))
        self._start_orchestrator()
        self._start_robots()
        try:
            self._wait_ready()
            for happening in scenario.happenings:
                self.schedule(happening.at, lambda h=happening: self._happen(h))
            self.clock.resume()
            next_report = scenario.start
            while True:
                now = self.clock.now()
                if now >= scenario.end:
                    break
                self._check_processes()
                self._take_alerts()
                while self._timers and self._timers[0][0] <= now:
                    _, _, action = heapq.heappop(self._timers)
                    action()
                if self.progress and now >= next_report:
                    self.progress((now - scenario.start) / (scenario.end - scenario.start))
                    next_report = now + 600.0
                time.sleep(0.005)
            self.clock.pause()
            self._take_alerts()
        finally:
            self._stop_all()
        if self.progress:
            self.progress(1.0)
        return self._result(time.perf_counter() - started)

    def schedule(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (at, next(self._order), action))

    def _stop_all(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        self._stop_all()
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        if self._tmp is not None:
            self._tmp.cleanup()

    # == talking to the ward ===============================================
    def _request(self, body: dict[str, Any]) -> str:
        request_id = f"player-{next(self._ids)}"
        body["request_id"] = request_id
        self.requests.publish(json_message(body))
        return request_id

    def _robot(self, robot_id: str, hook: dict[str, Any]) -> None:
        self.sim_pubs[robot_id].publish(json_message(hook))

    def _on_fleet(self, msg: String) -> None:
        with self._lock:
            self.fleet = json.loads(msg.data)

    def _on_answer(self, msg: String) -> None:
        body = json.loads(msg.data)
        with self._lock:
            self.answers[str(body.get("request_id"))] = body
        if not body.get("ok") and str(body.get("request_id", "")).startswith("player-"):
            self._show("rejected", body.get("error", {}).get("message", "refused"))

    def _on_alert(self, msg: String) -> None:
        with self._lock:
            self._alerts.append(json.loads(msg.data))

    def _take_alerts(self) -> None:
        """Staff notifications: kept for the KPIs; the nurses answer them as in the
        simulator (a fall's task is acknowledged, every other alert resolved)."""
        with self._lock:
            alerts, self._alerts = self._alerts, []
        for a in alerts:
            if a.get("type") != "notify":
                continue
            self.notifications.append(Notification(at=a["at"], severity=a["severity"],
                                                   key=a["key"], text=a["text"],
                                                   task_id=a.get("task_id")))
            if a.get("escalated") or a.get("alert_id") is None:
                continue
            later = self.clock.now() + self.scenario.residents.acknowledge_after
            if a["key"] == "fall_detected" and a.get("task_id"):
                task_id = a["task_id"]
                self.schedule(later, lambda t=task_id: self._request(
                    {"acknowledge_task": t, "requester": "nurse on duty"}))
            else:
                alert_id = a["alert_id"]
                self.schedule(later, lambda i=alert_id: self._request(
                    {"alert": {"id": i, "action": "resolve"}, "requester": "nurse on duty"}))

    # == scripted happenings (as simulation.simulator does them) ==========
    def _happen(self, h: Happening) -> None:
        args, kind = h.args, h.kind
        robot = args.get("robot")
        marker = self.tell.happening(kind, args)
        if marker is not None:
            self._show(*marker)
        if kind in ("fall", "activity"):
            self._resident_moves(args["room"], args.get("scene", "fall"))
        elif kind == "call_button":
            self._request({"device_event": {"device_id": f"call_{args['room']}",
                                            "kind": "call_button", "room": args["room"]}})
        elif kind == "robot_fault":
            self._robot(robot, {"fault": args.get("error", "drive failure")})
            if "repair_after" in args:
                self.schedule(self.clock.now() + args["repair_after"],
                              lambda: self._robot(robot, {"repair": True}))
        elif kind == "robot_stuck":
            self._robot(robot, {"stuck": args["duration"]})
        elif kind == "battery":
            self._robot(robot, {"battery": args["level"]})
        elif kind == "estop":
            self._robot(robot, {"estop": True})
            if "release_after" in args:
                self.schedule(self.clock.now() + args["release_after"],
                              lambda: self._robot(robot, {"release": True}))
        elif kind in ("close", "open"):
            self._passage(args["what"], kind == "close")
            if kind == "close" and "duration" in args:
                self.schedule(self.clock.now() + args["duration"],
                              lambda: self._passage(args["what"], False))
        elif kind == "submit":
            task = dict(args["task"])
            if args.get("id"):
                task["id"] = args["id"]
            self._request({"task": task, "requester": args["by"]})
        elif kind == "cancel":
            self._request({"cancel": args["task"], "requester": args.get("by", "staff")})
        elif kind == "restart":
            self._restart()

    def _resident_moves(self, room: str, scene: str) -> None:
        self._show(*self.tell.scene(room, scene))
        camera = self.scenario.cameras.get(room)
        if camera is None:
            self._request({"fall": {"room": room, "source": "wearable"}})
            return
        sighting = watch_scene(camera, scene, seed=self.rng.randrange(2 ** 31))
        if sighting is None:
            if scene == "fall":
                self._show(*self.tell.missed(camera, room))
            return

        def alarm() -> None:
            self._show(*self.tell.alarm(camera, sighting.confidence))
            self._request({"fall": {"room": room, "source": camera,
                                    "confidence": sighting.confidence}})
        self.schedule(self.clock.now() + sighting.delay, alarm)

    def _passage(self, what: str, closed: bool) -> None:
        self._show(*self.tell.passage(what, closed))
        (self.closed.add if closed else self.closed.discard)(what)
        self._request({"passage": {"what": what, "closed": closed}})
        self.closed_pub.publish(json_message(sorted(self.closed)))

    def _restart(self) -> None:
        """The orchestrator process is killed (SIGKILL) and started again on its store,
        with the ward's time held meanwhile (the simulator's restart takes no time)."""
        self._show(*self.tell.restart())
        self.clock.pause()
        proc = self.procs.pop("orchestrator")
        proc.kill()
        proc.wait(10)
        self.restarts += 1
        with self._lock:
            self.fleet = None
        self._start_orchestrator()
        self._wait_ready()
        self.clock.resume()

    def _show(self, kind: str, text: str) -> None:
        self.shown.append(Shown(at=self.clock.now(), kind=kind, text=text))

    # == the result ==========================================================
    def _result(self, wall: float) -> SimResult:
        scenario = self.scenario
        records = []
        with TaskStore(self.store, writer=False) as store:
            for record in store.all_tasks():
                record = dict(record)
                record["history"] = [list(row) for row in store.history(record["id"])]
                records.append(record)
        stored = {r["id"] for r in records}
        with self._lock:
            accepted = {a["task"]["id"] for a in self.answers.values()
                        if a.get("ok") and isinstance(a.get("task"), dict)}
        lost = sorted(accepted - stored)
        robots = []
        for spec in scenario.robots:
            path = self.dir / f"{spec.id}.record.json"
            if path.exists():
                data = json.loads(path.read_text())
                data["segments"] = [Segment(**s) for s in data["segments"]]
                robots.append(RobotRecord(**data))
            else:                                  # the robot's node never wrote it
                robots.append(RobotRecord(id=spec.id, model=spec.profile.model, segments=[
                    Segment(start=scenario.start, end=scenario.end, activity="offline")]))
        return SimResult(
            scenario=scenario.name, source=scenario.source, ward=scenario.ward.name,
            ward_file=scenario.ward_file, timezone=scenario.ward.timezone, seed=scenario.seed,
            start=scenario.start, end=scenario.end, robots=robots, tasks=records,
            happenings=self.shown, notifications=self.notifications, restarts=self.restarts,
            lost_tasks=lost, wall_seconds=wall)
