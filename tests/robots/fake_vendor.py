"""A fake vendor robot for the REST driver's tests: the API documented in
``carefleet.robots.drivers.vendor_rest``, served for real over HTTP/1.1 on 127.0.0.1.

One robot, moved by the polls rather than by time: every ``GET /status`` takes it a
``steps``-th of the way to its goal (so a drive lasts a few polls however fast they
come; ``steps`` is read when a goal arrives), an action ends after ``steps`` polls
(``attend`` never: it waits to be deleted), and docked it charges 5 % a poll.
Faults on demand, from the test's thread:

- ``busy = n``: answer the next ``n`` POSTs 409;
- ``hang(seconds, methods)``: requests (of those methods) get no answer for that long
  (``None``: until ``release()``), then their connection is closed unanswered;
- ``drop = True``: close every connection without answering;
- ``fail(error)`` / ``clear()``: the robot goes to ``error`` (its goal fails) and back;
- ``stop()`` / ``start()``: the server goes away (connections refused) and comes back
  on the same port.

``requests`` records ``(method, path, body)`` of every request that arrived.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTIONS = ("load_trays", "await_pickup", "scan", "attend")


class FakeVendor:
    def __init__(self, *, map: str = "F1", x: float = 5.0, y: float = 6.0, steps: int = 3,
                 battery: float = 0.83, maps: tuple[str, ...] = ("F1", "F2")) -> None:
        self.lock = threading.Lock()
        self.robot: dict[str, Any] = {"map": map, "x": x, "y": y, "yaw": 0.0,
                                      "battery": battery, "state": "idle", "error": "",
                                      "goal_id": "", "goal_state": ""}
        self.steps = steps
        self.maps = maps
        self.busy = 0
        self.drop = False
        self.requests: list[tuple[str, str, Any]] = []
        self._goal: dict[str, Any] | None = None     # kind, name, start, target, steps
        self._hang: tuple[float, frozenset[str] | None] | None = None
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # == the server ========================================================
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeVendor":
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.vendor = self                       # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True, name="fake-vendor").start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (kept-alive ones too)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self.release()
        with self.lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # == faults ============================================================
    def hang(self, seconds: float | None = None, methods: tuple[str, ...] | None = None) -> None:
        self._released.clear()
        until = float("inf") if seconds is None else time.monotonic() + seconds
        self._hang = (until, frozenset(methods) if methods else None)

    def release(self) -> None:
        self._hang = None
        self._released.set()

    def fail(self, error: str) -> None:
        with self.lock:
            self.robot.update(state="error", error=error)
            if self.robot["goal_state"] == "active":
                self.robot["goal_state"] = "failed"

    def clear(self) -> None:
        with self.lock:
            self.robot.update(state="idle", error="")

    # == what the tests look at ============================================
    def sent(self, method: str, path: str) -> list[Any]:
        """Bodies of the requests with this method and path (prefix), in order."""
        with self.lock:
            return [body for m, p, body in self.requests if m == method and p.startswith(path)]

    # == the API ===========================================================
    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            if method == "GET" and path == "/status":
                self._advance()
                return 200, dict(self.robot)
            if method == "DELETE" and path.startswith("/goals/"):
                r = self.robot
                if r["goal_id"] != path[len("/goals/"):] or r["goal_state"] != "active":
                    return 404, {"error": "not the current goal"}
                r.update(goal_state="cancelled", state="idle" if r["state"] == "moving"
                         else r["state"])
                return 204, None
            if method == "POST" and path in ("/goals", "/dock", "/actions"):
                return self._new_goal(path, body if isinstance(body, dict) else {})
            return 404, {"error": f"no {method} {path}"}

    def _new_goal(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        r = self.robot
        goal_id = body.get("action_id" if path == "/actions" else "goal_id")
        if not isinstance(goal_id, str) or not goal_id:
            return 400, {"error": "missing id"}
        if path == "/actions":
            if body.get("name") not in ACTIONS:
                return 400, {"error": f"unknown action {body.get('name')!r}"}
            target = None
        else:
            if body.get("map") not in self.maps or not all(
                    isinstance(body.get(k), (int, float)) for k in ("x", "y")):
                return 400, {"error": "bad goal"}
            target = (body["map"], float(body["x"]), float(body["y"]))
        if self.busy > 0:
            self.busy -= 1
            return 409, {"error": "busy"}
        if r["state"] in ("error", "estop"):
            return 409, {"error": f"robot in {r['state']}"}
        self._goal = {"kind": path.strip("/"), "name": body.get("name"),
                      "start": (r["x"], r["y"]), "target": target, "done": 0,
                      "steps": self.steps}
        r.update(goal_id=goal_id, goal_state="active")
        return 202, {"accepted": goal_id}

    def _advance(self) -> None:
        """One poll's worth of the robot's life."""
        r, g = self.robot, self._goal
        if r["state"] in ("error", "estop"):
            return
        if g is None or r["goal_state"] != "active":
            if r["state"] == "docked":
                r["battery"] = round(min(1.0, r["battery"] + 0.05), 3)
            return
        if g["kind"] == "actions":
            if g["name"] != "attend":
                g["done"] += 1
                if g["done"] >= g["steps"]:
                    r["goal_state"] = "succeeded"
            return
        g["done"] += 1
        f = min(g["done"] / g["steps"], 1.0)
        floor, tx, ty = g["target"]
        (sx, sy) = g["start"]
        r.update(map=floor, x=sx + (tx - sx) * f, y=sy + (ty - sy) * f, state="moving")
        if f >= 1.0:
            r.update(goal_state="succeeded", state="docked" if g["kind"] == "dock" else "idle")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # kept-alive connections, as a real controller

    def setup(self) -> None:
        super().setup()
        with self.server.vendor.lock:                # type: ignore[attr-defined]
            self.server.vendor._connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        with self.server.vendor.lock:                # type: ignore[attr-defined]
            self.server.vendor._connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        vendor: FakeVendor = self.server.vendor      # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with vendor.lock:
            vendor.requests.append((self.command, self.path, body))
        hang = vendor._hang
        if (hang is not None and hang[0] > time.monotonic()
                and (hang[1] is None or self.command in hang[1])):
            vendor._released.wait(max(0.0, min(hang[0] - time.monotonic(), 60.0)))
            self.close_connection = True             # never answered
            return
        if vendor.drop:
            self.close_connection = True             # the socket closes unanswered
            return
        status, data = vendor.answer(self.command, self.path, body)
        payload = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
