"""The orchestrator as an rclpy node: the one ``Host`` with the node's clock, Nav2 robots
as its drivers, the task API and the fleet's state as ROS topics.

Threads: the host's loop (``run_forever``) runs on its own thread; rclpy spins a
``MultiThreadedExecutor`` on another; the main thread waits for SIGINT/SIGTERM and then
stops both cleanly. Every ROS callback only *posts* to the host's inbox; answers and
topics are published from the host's change feed and futures (its thread).

Topics (relative to the node's namespace; JSON in ``std_msgs/String``):

- ``task_api_requests`` (in) and ``task_api_responses`` (out), reliable + transient local,
  depth 10, as Open-RMF's task API. A request is ``{"request_id": ..., "task": {...}}``
  (the HTTP API's ``TaskRequest``: ``kind`` or ``category``+``description``, ``id``,
  ``priority``, ``rooms`` ...) or ``{"request_id", "cancel": "<task id>"}``; also
  ``"fall": {"room", "source", "confidence"}``, ``"device_event": {"device_id", "kind",
  "room", "data"}``, ``"alert": {"id", "action": "acknowledge"|"resolve"}``,
  ``"acknowledge_task": "<task id>"`` and ``"passage": {"what", "closed"}``. The answer
  is ``{"request_id", "ok": true, "task": {...}}`` (``"tasks": [...]`` for the others) or
  ``{"request_id", "ok": false, "error": {"code", "field", "message"}}``, sent once the
  host has committed (or refused) the request.
- ``fleet_state`` (latest, transient local): ``{"ward", "at", "robots": [...], "tasks":
  [...]}`` with the HTTP API's robot and task views, each robot's reported pose
  (``reported_pose``), whether its driver hears from it, and the drive's NavigateToPose
  feedback (``navigation``: distance and time remaining, ETA; null without); at most every
  ``fleet_state_period`` seconds, when something changed.
- ``alerts`` (depth 100, transient local): ``{"type": "alert", "alert": {...}}`` for every
  alert change and ``{"type": "notify", ...}`` for every staff notification.

Parameters (``--ros-args --params-file F``; see ``launch/*.params.yaml``): ``site`` (a
site file or bundled site name: ward, fleet, schedules, alert escalation, store) or
``scenario`` (a scenario file: ward, fleet, schedules); ``store``; ``language``;
``silence_timeout``; ``fleet_state_period``; ``offline_after``; ``report_every``; and per
robot ``robots.<id>.namespace`` (default ``/<id>``), ``.floor``, ``.frames.<floor>``,
``.action_interface``, ``.goals`` (``auto``/``action``/``topic``), ``.docking``
(``auto``/``server``/``pose``), ``.offline_after`` (see ``nav2_driver``). ``use_sim_time:
true`` runs the host on ``/clock``.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import rclpy
from pydantic import ValidationError
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from std_msgs.msg import String

from carefleet.errors import CareFleetError, CoreFault, InputError, StoreError
from carefleet.messages import DEFAULT_LANGUAGE, render
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import (AlertAcknowledged, AlertResolved, DeviceEvent,
                                           FallDetected, PassageChanged, StaffAcknowledged,
                                           TaskCancelled, TaskSubmitted)
from carefleet.orchestrator.host import Change, Handled, Host, ReadModel
from carefleet.orchestrator.alerts import EscalationPolicy
from carefleet.ros.common import (ALERTS, FLEET_STATE, QOS_ALERTS, QOS_API, QOS_LATEST,
                                  TASK_REQUESTS, TASK_RESPONSES, NodeClock, Stopper,
                                  json_message, new_node, param, params, spin_in_thread,
                                  wait_for_sim_time, wall_timer)
from carefleet.ros.nav2_driver import Nav2Driver
from carefleet.service.api import ApiError, TaskRequest, alert_view, robot_view, task_view

NODE_NAME = "carefleet_orchestrator"
NAV2_TARGET = "carefleet.ros.nav2_driver:Nav2Driver"
FINAL = ("completed", "failed", "cancelled")
#: Per-robot settings a parameter file may give (robots.<id>.<key>).
ROBOT_KEYS = ("namespace", "floor", "frames", "offline_after", "report_every",
              "action_interface", "goals", "docking")


class Fleet:
    """What the node runs: ward, robots, schedules, escalation, store, from a site or a
    scenario file (the same validated readers ``carefleet serve`` and ``sim`` use)."""

    def __init__(self, *, site: str = "", scenario: str = "", store: str = "") -> None:
        if bool(site) == bool(scenario):
            raise InputError("parameters", "give exactly one of 'site' and 'scenario'",
                             field="site")
        self.driver_params: dict[str, dict[str, Any]] = {}
        if site:
            from carefleet.service.site import load_site, site_path
            loaded = load_site(site_path(site))
            self.ward, self.robots, self.schedules = loaded.ward, loaded.robots, loaded.schedules
            self.escalation: EscalationPolicy | None = loaded.alerts
            self.language = loaded.language
            self.store = store or str(loaded.store)
            for robot_id, driver in loaded.drivers.items():
                if driver.target == NAV2_TARGET:
                    self.driver_params[robot_id] = dict(driver.params)
        else:
            from carefleet.simulation.scenario import load_scenario
            loaded = load_scenario(scenario)
            self.ward, self.robots, self.schedules = loaded.ward, loaded.robots, loaded.schedules
            self.escalation, self.language = None, DEFAULT_LANGUAGE
            if not store:
                raise InputError("parameters", "a scenario needs a 'store' file", field="store")
            self.store = store


class AnswerLog:
    """The task API's answers by ``request_id``, kept in a JSON-lines file beside the store,
    so a request replayed to a restarted node (transient local) is answered, not redone."""

    def __init__(self, path: Path, keep: int = 10_000) -> None:
        self.path, self.keep = path, keep
        self._lock = threading.Lock()
        self._answers: dict[Any, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    body = json.loads(line)
                    self._answers[body["request_id"]] = body
                except (ValueError, KeyError, TypeError):
                    continue                    # a line cut short by a crash
        self._file = path.open("a", encoding="utf-8")

    def get(self, request_id: Any) -> dict[str, Any] | None:
        if request_id is None or not isinstance(request_id, (str, int)):
            return None
        with self._lock:
            return self._answers.get(request_id)

    def add(self, request_id: Any, body: dict[str, Any]) -> None:
        if not isinstance(request_id, (str, int)):
            return
        with self._lock:
            self._answers[request_id] = body
            while len(self._answers) > self.keep:
                self._answers.pop(next(iter(self._answers)))
            self._file.write(json.dumps(body, separators=(",", ":"), default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class OrchestratorNode:
    """The host inside an rclpy node. ``start()`` runs the host loop; ``stop()`` ends it."""

    def __init__(self, node: Any, executor: MultiThreadedExecutor) -> None:
        self.node = node
        self.executor = executor
        self.log = node.get_logger()
        fleet = Fleet(site=param(node, "site", ""), scenario=param(node, "scenario", ""),
                      store=param(node, "store", ""))
        self.fleet = fleet
        self.ward = fleet.ward
        self.zone = ZoneInfo(self.ward.timezone)
        self.language = param(node, "language", fleet.language)
        silence = float(param(node, "silence_timeout", 300.0))
        self.policy = Policy(silence_timeout=silence if silence > 0 else None)
        if not wait_for_sim_time(node, executor):
            raise InputError("use_sim_time", "no /clock message within 30 s")
        self.clock = NodeClock(node)
        Path(fleet.store).parent.mkdir(parents=True, exist_ok=True)
        self.host = Host(self._build, fleet.store, clock=self.clock, driver_timeout=5.0,
                         core_faults="rebuild")
        self.read = ReadModel(self.host)
        self.answered = AnswerLog(Path(f"{fleet.store}.ros-answers"))
        self._group = MutuallyExclusiveCallbackGroup()
        defaults = {key: param(node, key, None) for key in ("offline_after", "report_every")}
        per_robot = params(node, "robots")
        unknown = set(per_robot) - {spec.id for spec in fleet.robots}
        if unknown:
            raise InputError("parameters", f"robots.{sorted(unknown)[0]}: no such robot in "
                             "the fleet", field="robots")
        self.drivers: dict[str, Nav2Driver] = {}
        for spec in fleet.robots:
            config = {k: v for k, v in defaults.items() if v is not None}
            config |= fleet.driver_params.get(spec.id, {})
            config |= per_robot.get(spec.id, {})
            bad = set(config) - set(ROBOT_KEYS)
            if bad:
                raise InputError("parameters", f"robots.{spec.id}.{sorted(bad)[0]}: unknown "
                                 f"setting (known: {', '.join(ROBOT_KEYS)})", field="robots")
            if "floor" not in config:
                config["floor"] = self.ward.waypoints[
                    self.host.core.planner.waypoint_of(spec.start)].floor
            self.drivers[spec.id] = Nav2Driver(spec.id, self.host.post,
                                               context=self.host.context(), node=node, **config)
        self.host.drivers.update(self.drivers)
        self.requests = node.create_subscription(String, TASK_REQUESTS, self._on_request,
                                                 QOS_API, callback_group=self._group)
        self.responses = node.create_publisher(String, TASK_RESPONSES, QOS_API)
        self.fleet_pub = node.create_publisher(String, FLEET_STATE, QOS_LATEST)
        self.alerts_pub = node.create_publisher(String, ALERTS, QOS_ALERTS)
        self._dirty = threading.Event()
        self._dirty.set()
        self._progress: dict[str, Any] = {}     # the drives' feedback last published
        self.host.subscribe(self._on_change)
        period = float(param(node, "fleet_state_period", 0.5))
        self._timers = [wall_timer(node, period, self._publish_fleet,
                                   callback_group=self._group),
                        wall_timer(node, 0.1, self.host.wake)]   # ticks on time under /clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log.info(f"CareFleet orchestrator: ward {self.ward.name}, "
                      f"{len(self.drivers)} Nav2 robots, store {fleet.store}")

    def _build(self, incarnation: int) -> Orchestrator:
        fleet = self.fleet
        return Orchestrator(fleet.ward, fleet.robots, start=self.clock.now(),
                            schedules=fleet.schedules, policy=self.policy,
                            incarnation=incarnation, escalation=fleet.escalation)

    # == lifetime ==========================================================
    def start(self) -> None:
        self._thread = threading.Thread(target=self.host.run_forever, args=(self._stop,),
                                        name="host", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.host.wake()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        for driver in self.drivers.values():
            driver.close()
        self.host.close()
        self.answered.close()

    # == the task API ========================================================
    def _on_request(self, msg: String) -> None:
        try:
            body = json.loads(msg.data)
            if not isinstance(body, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            self._answer(None, error=("bad_request", None, f"not a JSON request: {exc}"))
            return
        request_id = body.get("request_id")
        earlier = self.answered.get(request_id)
        if earlier is not None:
            # Transient-local requests are replayed to a restarted node: answer again,
            # never act twice.
            self.responses.publish(json_message(earlier))
            return
        try:
            self._dispatch(request_id, body)
        except ApiError as exc:
            self._answer(request_id, error=(exc.code, exc.field, exc.message))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            self._answer(request_id, error=("invalid", where or None, str(first.get("msg"))))
        except InputError as exc:
            self._answer(request_id, error=("invalid", exc.field, exc.message))
        except (TypeError, KeyError, ValueError) as exc:
            self._answer(request_id, error=("bad_request", None, f"malformed request: {exc}"))

    def _dispatch(self, request_id: Any, body: dict[str, Any]) -> None:
        who = str(body.get("requester") or "ros:task_api")
        kinds = [k for k in ("task", "cancel", "fall", "device_event", "alert",
                             "acknowledge_task", "passage") if k in body]
        if len(kinds) != 1:
            raise ApiError(400, "a request has exactly one of 'task', 'cancel', 'fall', "
                           "'device_event', 'alert', 'acknowledge_task', 'passage'",
                           field="task")
        kind = kinds[0]
        if kind == "task":
            task = TaskRequest.model_validate(body["task"])
            event: Any = TaskSubmitted(request=task.as_request(),
                                       requested_by=task.requester or who, task_id=task.id)
            self._post(request_id, event, lambda h: self._submitted(h, task.id))
        elif kind == "cancel":
            task_id = str(body["cancel"])
            event = TaskCancelled(task_id=task_id, requested_by=who,
                                  reason=str(body.get("reason", "cancelled by request")))
            self._post(request_id, event, lambda h: self._cancelled(h, task_id))
        elif kind == "fall":
            fall = body["fall"]
            event = FallDetected(room=str(fall["room"]), source=str(fall.get("source", who)),
                                 confidence=float(fall.get("confidence", 1.0)))
            self._post(request_id, event, self._tasks)
        elif kind == "device_event":
            d = body["device_event"]
            event = DeviceEvent(device_id=str(d["device_id"]), kind=str(d["kind"]),
                                room=str(d["room"]), data=dict(d.get("data", {})))
            self._post(request_id, event, self._tasks)
        elif kind == "alert":
            a = body["alert"]
            action = a.get("action")
            if action not in ("acknowledge", "resolve"):
                raise ApiError(422, "alert action is 'acknowledge' or 'resolve'", field="action")
            event_type = AlertAcknowledged if action == "acknowledge" else AlertResolved
            self._post(request_id, event_type(alert_id=str(a["id"]), by=who), self._tasks)
        elif kind == "acknowledge_task":
            self._post(request_id, StaffAcknowledged(task_id=str(body["acknowledge_task"]),
                                                     by=who), self._tasks)
        else:
            p = body["passage"]
            self._post(request_id, PassageChanged(what=str(p["what"]), closed=bool(p["closed"]),
                                                  by=who), self._tasks)

    def _post(self, request_id: Any, event: Any, answer: Any) -> None:
        future: Future = self.host.post(event)

        def settled(f: Future) -> None:          # on the host's thread
            error = f.exception()
            if error is None:
                try:
                    self._answer(request_id, ok=answer(f.result()))
                except ApiError as exc:
                    self._answer(request_id, error=(exc.code, exc.field, exc.message))
                return
            if isinstance(error, StoreError):
                self._answer(request_id, error=("store_unavailable", None, str(error)))
            elif isinstance(error, CoreFault):
                self._answer(request_id, error=("core_fault", None, str(error)))
            elif isinstance(error, InputError):
                message = error.message
                code = ("not_found" if message.startswith("unknown task") else
                        "conflict" if " already " in f" {message}" else "invalid")
                self._answer(request_id, error=(code, error.field, error.message))
            else:
                self._answer(request_id, error=("invalid", getattr(error, "field", None),
                                                getattr(error, "message", str(error))))
        future.add_done_callback(settled)

    def _submitted(self, handled: Handled, client_id: str | None) -> dict[str, Any]:
        new_id = handled.task_id("task_submitted")
        if new_id is None and client_id is not None:        # a repeated id: the stored task
            record = self.host.store.task(client_id)
            return {"task": task_view(record, self.zone), "repeated": True}
        record = next(r for r in handled.records if r["id"] == new_id)
        return {"task": task_view(record, self.zone)}

    def _cancelled(self, handled: Handled, task_id: str) -> dict[str, Any]:
        saved = [r for r in handled.records if r["id"] == task_id]
        record = saved[-1] if saved else self.host.store.task(task_id)
        return {"task": task_view(record, self.zone)}

    def _tasks(self, handled: Handled) -> dict[str, Any]:
        return {"tasks": [task_view(r, self.zone) for r in handled.records]}

    def _answer(self, request_id: Any, *, ok: dict[str, Any] | None = None,
                error: tuple[str, str | None, str] | None = None) -> None:
        if error is not None:
            code, field, message = error
            body = {"request_id": request_id, "ok": False,
                    "error": {"code": code, "field": field, "message": message}}
        else:
            body = {"request_id": request_id, "ok": True, **(ok or {})}
        if request_id is not None:
            self.answered.add(request_id, body)
        self.responses.publish(json_message(body))

    # == the change feed -> topics ==========================================
    def _on_change(self, change: Change) -> None:
        if change.kind in ("robot", "task"):
            self._dirty.set()
        elif change.kind == "alert":
            view = alert_view(change.data, self.language, self.zone, self.ward)
            self.alerts_pub.publish(json_message({"type": "alert", "at": change.at,
                                                  "alert": view}))
        elif change.kind == "notify":
            n = change.data
            try:
                text = render(n.key, n.params, self.language)
            except (KeyError, ValueError, CareFleetError):
                text = n.key
            self.alerts_pub.publish(json_message({
                "type": "notify", "at": change.at, "severity": n.severity.value, "key": n.key,
                "text": text, "params": n.params, "task_id": n.task_id, "robot_id": n.robot_id,
                "place": n.place, "alert_id": n.alert_id, "tier": n.tier,
                "escalated": n.escalated}))

    def fleet_state(self) -> dict[str, Any]:
        snap = self.read.snapshot()
        # robot_view reads a WardService's site (its ward and robots): the same two here.
        shim = SimpleNamespace(site=SimpleNamespace(ward=self.ward, robots=self.fleet.robots))
        robots = []
        for view in snap["robots"].values():
            shown = robot_view(view, shim)
            driver = self.drivers.get(view.id)
            pose = driver.latest_pose if driver else None
            shown["reported_pose"] = (None if pose is None else
                                      {"floor": pose.floor, "x": round(pose.x, 3),
                                       "y": round(pose.y, 3), "yaw": round(pose.yaw, 3)})
            shown["heard"] = bool(driver and pose is not None and not driver.offline)
            shown["navigation"] = driver.progress if driver else None
            robots.append(shown)
        tasks = [task_view(r, self.zone) for r in snap["tasks"].values()
                 if r["state"] not in FINAL]
        return {"ward": self.ward.name, "at": self.clock.now(), "robots": robots,
                "tasks": tasks}

    def _publish_fleet(self) -> None:
        # NavigateToPose feedback changes no state of the host's, yet it is news (ETA).
        progress = {robot_id: d.progress for robot_id, d in self.drivers.items()}
        if self._dirty.is_set() or progress != self._progress:
            self._dirty.clear()
            self._progress = progress
            try:
                state = self.fleet_state()
            except Exception as exc:          # a view bug must not stop the node's spin
                self.log.error(f"fleet_state: {type(exc).__name__}: {exc}")
                return
            self.fleet_pub.publish(json_message(state))

    def destroy(self) -> None:
        for timer in self._timers:
            self.node.destroy_timer(timer)


def main(argv: list[str] | None = None) -> int:
    from carefleet.ros.common import start_ros
    argv = list(sys.argv if argv is None else argv)
    start_ros(argv)
    node = new_node(NODE_NAME)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        orchestrator = OrchestratorNode(node, executor)
    except CareFleetError as error:
        print(f"carefleet: error: {error}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2
    stopper = Stopper().install()
    orchestrator.start()
    spinner = spin_in_thread(executor)
    try:
        stopper.wait()
    finally:
        orchestrator.stop()
        orchestrator.destroy()
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
