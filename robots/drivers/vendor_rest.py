"""A driver for a robot behind a vendor REST API (the README's realistic example).

The (imaginary, typical) vendor API: ``GET /status`` -> ``{"map": "F1", "x", "y", "yaw",
"battery": 0.83, "state": "idle"|"moving"|"docked"|"error"|"estop", "error", "goal_id",
"goal_state": "active"|"succeeded"|"failed"|"cancelled"}`` (``map``: the ward's floor
id; metres, radians; the goal is the latest goal, action or dock it was given).
``POST /goals {"goal_id", "map", "x", "y", "yaw"}`` drives there, replacing any goal;
``POST /actions {"action_id", "name", "params"}`` does ``load_trays``, ``await_pickup``,
``scan`` or ``attend`` (active until deleted); ``POST /dock {"goal_id", "map", "x",
"y"}`` drives onto that charger and charges; ``DELETE /goals/{goal_id}`` cancels (404:
not its goal). POSTs answer 202, 409 busy (``RETRY``: the host retries with backoff) or
400 (``IMPOSSIBLE``, e.g. an unknown action); a timeout or lost connection is ``RETRY``.
Goals are coordinates: the end of the route the core planned, else ``context.pose_of``.
A thread of its own polls ``/status`` every ``poll_every`` s, reports a ``RobotStatus``
with a ``pose`` (the core snaps it to the route graph) and marks a command's
``Execution`` when its goal ends; ``lost_after`` failed polls in a row report ``ERROR``
("link lost: ..."), and the next good poll recovers the robot.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import httpx

from carefleet.errors import InputError
from carefleet.orchestrator.events import DriverMode, Pose, RobotStatus
from carefleet.robots.driver import DriverContext, Execution, Reply, Report, RobotDriver

MODES = {"idle": DriverMode.READY, "moving": DriverMode.BUSY, "docked": DriverMode.CHARGING,
         "error": DriverMode.ERROR, "estop": DriverMode.EMERGENCY_STOP}
BUSY = (409, 429, 500, 502, 503, 504)       # answers worth another try (400: never)


class VendorRestDriver(RobotDriver):
    """One robot at ``url``; thread-safe (host worker and poller); ``close()`` stops it."""

    def __init__(self, robot_id: str, report: Report, *, context: DriverContext, url: str,
                 poll_every: float = 1.0, timeout: float = 2.0, lost_after: int = 3) -> None:
        if poll_every <= 0 or timeout <= 0 or lost_after < 1:
            raise ValueError("poll_every and timeout must be positive, lost_after at least 1")
        super().__init__(robot_id, report, context)
        self.url, self.poll_every, self.lost_after = url, poll_every, lost_after
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Execution, str | None]] = {}   # id -> (handle, ends at)
        self._last: RobotStatus | None = None
        self._missed, self._closed = 0, threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, daemon=True, name=robot_id)
        self._poller.start()

    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        route = self.route(command_id)
        goal = (Pose(floor=route[-1].floor, x=route[-1].x, y=route[-1].y) if route
                else self.context.pose_of(waypoint))
        return self._send("/goals", command_id, waypoint, {
            "goal_id": command_id, "map": goal.floor, "x": goal.x, "y": goal.y, "yaw": goal.yaw})

    def perform(self, command_id: str, action: str, place: str, params: dict[str, Any]) -> Reply:
        return self._send("/actions", command_id, None,
                          {"action_id": command_id, "name": action, "params": params})

    def dock(self, command_id: str, place: str) -> Reply:
        at = self.context.pose_of(place)
        return self._send("/dock", command_id, place,
                          {"goal_id": command_id, "map": at.floor, "x": at.x, "y": at.y})

    def stop(self, command_id: str) -> Reply:
        try:
            answer = self.http.delete(f"/goals/{command_id}")
        except httpx.HTTPError:    # if it still runs, its status names it: the core stops it
            return Reply.RETRY
        if answer.status_code >= 500:
            return Reply.RETRY
        self._end(command_id, "cancelled", "")   # cancelled now, or (404) not running at all
        return Reply.ACCEPTED

    def status(self) -> RobotStatus:
        """The latest poll's status (read now when there is none yet)."""
        if self._last is None:
            self.poll()
        if self._last is None:
            raise ConnectionError(f"robot {self.robot_id}: no status from {self.url}")
        return self._last

    def close(self) -> None:
        self._closed.set()
        self._poller.join(timeout=10.0)
        self.http.close()

    def _send(self, path: str, command_id: str, ends_at: str | None, body: dict) -> Reply:
        try:
            answer = self.http.post(path, json=body)
        except httpx.HTTPError:                  # timed out, refused or dropped
            return Reply.RETRY
        if not answer.is_success:                # busy or a server error: try again later
            return Reply.RETRY if answer.status_code in BUSY else Reply.IMPOSSIBLE
        with self._lock:                         # the vendor keeps one goal: others are gone
            replaced = [h for cid, (h, _) in self._open.items() if cid != command_id]
            self._open = {command_id: (self.execution(command_id), ends_at)}
        for handle in replaced:
            handle.cancelled(f"replaced by {command_id}")
        return Reply.ACCEPTED

    def _end(self, goal_id: str, goal_state: str, error: str) -> None:
        with self._lock:
            handle, ends_at = self._open.pop(goal_id, (None, None))
        if handle is not None and goal_state == "succeeded":
            handle.succeeded(position=ends_at)
        elif handle is not None:
            (handle.failed if goal_state == "failed" else handle.cancelled)(error)

    def _poll_loop(self) -> None:
        while not self._closed.wait(self.poll_every):
            self.poll()

    def poll(self) -> None:
        """Read ``/status`` once (on the poller's thread): mark an ended goal, report."""
        try:
            s = self.http.get("/status").raise_for_status().json()
            goal, goal_state = s.get("goal_id"), s.get("goal_state")
            mode = MODES.get(s["state"], DriverMode.ERROR)
            if mode is DriverMode.READY and goal_state == "active":
                mode = DriverMode.BUSY           # doing an action where it stands
            faulty = mode in (DriverMode.ERROR, DriverMode.EMERGENCY_STOP)
            status = RobotStatus(
                robot_id=self.robot_id, battery=min(max(float(s["battery"]), 0.0), 1.0),
                pose=Pose(floor=s["map"], x=float(s["x"]), y=float(s["y"]),
                          yaw=float(s.get("yaw", 0.0))), mode=mode,
                error=(s.get("error") or f"robot reports {s['state']}") if faulty else None,
                command_id=goal if goal and goal_state == "active" else None)
        except (httpx.HTTPError, InputError, ValueError, KeyError, TypeError) as exc:
            with self._lock:
                self._missed += 1
                tell = self._missed >= self.lost_after and self._last is not None
                if tell:
                    self._last = replace(self._last, mode=DriverMode.ERROR, command_id=None,
                                         error=f"link lost: {exc or type(exc).__name__}")
                status = self._last
        else:
            with self._lock:
                self._missed, self._last, tell = 0, status, True
            if goal and goal_state in ("succeeded", "failed", "cancelled"):
                self._end(goal, goal_state, s.get("error") or f"the robot's goal {goal_state}")
        if tell and status is not None:
            self.report(status)
