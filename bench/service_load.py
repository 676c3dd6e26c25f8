"""The live service under load: submit latency, event-to-command latency, CPU share.

Starts a real ``carefleet serve`` on a temporary site file (the demo ward, 50 simulated
robots of the demo's ``meal_bot`` profile) with ``--speed 60``: a simulated robot
reports every 60 simulated seconds, so each reports once a wall second. Ten staff
clients, each its own account, thread and kept-alive HTTP connection, submit ``go_to``
tasks over real HTTP for ``--seconds`` (default 20), pausing a random time between
submissions (mean ``--think`` s). One more staff client watches ``/api/live``.

Measured:
  * submit latency: from sending ``POST /api/tasks`` to its 201 (the store committed);
  * event-to-assignment: from sending the POST to the first ``task`` message on
    ``/api/live`` that shows the task assigned to a robot;
  * event-to-command: from sending the POST to the first ``robot`` message whose
    ``task`` is that task (the robot was commanded and said so);
  * CPU share of the server process: ``utime + stime`` from ``/proc/<pid>/stat`` over
    the load phase divided by its wall time (100 % = one core).

Prints figures only; nothing here is asserted (this machine is noisy).
Run: .venv/bin/python bench/service_load.py [--robots 50] [--clients 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from carefleet.maps import DEMO_WARD, load_ward
from carefleet.service.accounts import Accounts

CARE = [sys.executable, "-m", "carefleet.cli"]
PASSWORD = "correct-horse-battery"
ROOMS = [f"room_{n}" for n in (*range(101, 117), *range(201, 217))]
START_TIMEOUT = 60.0       # failure guards, not speed claims
DRAIN = 5.0                # after the load: how long to wait for the last commands

SITE = """\
name: Load bench ward
ward: demo_ward
fleet:
  profiles:
    meal_bot:
      model: TrayRunner T4
      speed: 0.8
      trays: 4
      capabilities: [meal_delivery, camera]
      battery: {{capacity_wh: 480, drain_per_m_wh: 0.06, drain_idle_w: 12, charge_w: 240}}
  robots:
{robots}
cameras: []
store: ward.db
listen: {{host: 127.0.0.1, port: 8000}}
"""


def write_site(folder: Path, robots: int) -> Path:
    # corridors, lounges, chargers, lifts: not a room's door, so a go_to means a drive
    starts = sorted(w for w in load_ward(DEMO_WARD).waypoints if "_door_" not in w)
    lines = [f"    - {{id: bot_{n:02d}, profile: meal_bot, start: {starts[n % len(starts)]}, "
             f"driver: simulated}}" for n in range(1, robots + 1)]
    path = folder / "load_site.yaml"
    path.write_text(SITE.format(robots="\n".join(lines)), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(site: Path, store: Path, port: int, speed: float) -> subprocess.Popen:
    process = subprocess.Popen([*CARE, "serve", str(site), "--store", str(store),
                                "--port", str(port), "--speed", f"{speed:g}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + START_TIMEOUT
    said = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()                     # type: ignore[union-attr]
        if not line:
            break
        said.append(line)
        if line.startswith("CareFleet:") and "http://" in line:
            # keep draining its output so a chatty server never blocks on the pipe
            threading.Thread(target=lambda: [None for _ in process.stdout],  # type: ignore
                             daemon=True).start()
            return process
    process.kill()
    raise SystemExit("serve did not start:\n" + "".join(said))


def login(url: str, name: str) -> str:
    response = httpx.post(f"{url}/api/auth/token", data={"username": name, "password": PASSWORD},
                          timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def quantiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"median {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms (n={len(ordered)})")


class Watcher(threading.Thread):
    """One ``/api/live`` client: when each task was first seen assigned and commanded."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(name="live", daemon=True)
        self.url, self.token = url.replace("http", "ws", 1) + "/api/live", token
        self.assigned: dict[str, float] = {}
        self.commanded: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.robot_messages = 0
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.closed_by_server: str | None = None

    def run(self) -> None:
        with connect(self.url, open_timeout=30, max_size=None) as socket_:
            socket_.send(json.dumps({"token": self.token}))
            snapshot = json.loads(socket_.recv(timeout=30))
            if snapshot["type"] != "snapshot":
                self.closed_by_server = f"no snapshot: {snapshot}"
                self.ready.set()
                return
            self.ready.set()
            while not self.stop.is_set():
                try:
                    raw = socket_.recv(timeout=0.5)
                except TimeoutError:
                    continue
                except (ConnectionClosed, OSError) as exc:    # closed: say so, stop
                    self.closed_by_server = repr(exc)
                    return
                self.take(json.loads(raw), time.perf_counter())

    def take(self, message: dict, now: float) -> None:
        if message["type"] == "robot":
            self.robot_messages += 1
            task = message["robot"]["task"]
            if task is not None and task not in self.commanded:
                self.commanded[task] = now
        elif message["type"] == "task":
            task = message["task"]
            if task["robot"] is not None and task["id"] not in self.assigned:
                self.assigned[task["id"]] = now
            if task["state"] in ("completed", "failed", "cancelled"):
                self.finished.setdefault(task["id"], now)

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=5)


class Staff(threading.Thread):
    """One nurse's client: submits go_to tasks until told to stop."""

    def __init__(self, url: str, name: str, token: str, until: float, think: float,
                 seed: int) -> None:
        super().__init__(name=name, daemon=True)
        self.client = httpx.Client(base_url=url, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
        self.name_, self.until, self.think = name, until, think
        self.rng = random.Random(seed)
        self.sent: dict[str, float] = {}          # task id -> perf_counter at send
        self.latency: list[float] = []
        self.failed: list[str] = []

    def run(self) -> None:
        n = 0
        while time.perf_counter() < self.until:
            n += 1
            task_id = f"{self.name_}-{n}"
            body = {"kind": "go_to", "place": self.rng.choice(ROOMS), "id": task_id}
            sent = time.perf_counter()
            try:
                response = self.client.post("/api/tasks", json=body)
            except httpx.HTTPError as exc:
                self.failed.append(f"{task_id}: {exc!r}")
                continue
            answered = time.perf_counter()
            if response.status_code != 201:
                self.failed.append(f"{task_id}: {response.status_code} {response.text[:120]}")
                continue
            self.sent[task_id] = sent
            self.latency.append(answered - sent)
            if self.think > 0:
                pause = min(self.rng.expovariate(1 / self.think), 5 * self.think)
                time.sleep(max(0.0, min(pause, self.until - time.perf_counter())))
        self.client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean pause of a client between submissions, s (default 1)")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    bench_started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        site = write_site(folder, args.robots)
        store = folder / "ward.db"
        names = [f"nurse_{n:02d}" for n in range(1, args.clients + 1)]
        with Accounts(store) as accounts:
            for name in [*names, "watcher"]:
                accounts.add_user(name, "nurse", PASSWORD, time.time())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_server(site, store, port, args.speed)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            tokens = {name: login(url, name) for name in [*names, "watcher"]}
            # the HTTP stack alone: a read with no store work, on a kept-alive connection
            with httpx.Client(base_url=url, timeout=30) as probe:
                probe.get("/api/health")
                health = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    probe.get("/api/health")
                    health.append(time.perf_counter() - t0)
            watcher = Watcher(url, tokens["watcher"])
            watcher.start()
            if not watcher.ready.wait(START_TIMEOUT) or watcher.closed_by_server:
                raise SystemExit(f"/api/live did not answer: {watcher.closed_by_server}")
            idle_cpu0, idle_t0 = cpu_seconds(process.pid), time.perf_counter()
            time.sleep(2.0)                          # the robots' heartbeats alone
            idle_share = ((cpu_seconds(process.pid) - idle_cpu0)
                          / (time.perf_counter() - idle_t0))
            heartbeats0 = watcher.robot_messages
            cpu0, t0 = cpu_seconds(process.pid), time.perf_counter()
            until = t0 + args.seconds
            staff = [Staff(url, name, tokens[name], until, args.think, args.seed * 100 + i)
                     for i, name in enumerate(names)]
            for member in staff:
                member.start()
            for member in staff:
                member.join(timeout=args.seconds + 60)
            cpu1, t1 = cpu_seconds(process.pid), time.perf_counter()
            robot_messages = watcher.robot_messages - heartbeats0
            sent = {k: v for member in staff for k, v in member.sent.items()}
            drain_until = time.perf_counter() + DRAIN
            while time.perf_counter() < drain_until and not set(sent) <= (
                    set(watcher.commanded) | set(watcher.finished)):
                time.sleep(0.1)
            watcher.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    submit = [x for member in staff for x in member.latency]
    failed = [x for member in staff for x in member.failed]
    to_assign = [watcher.assigned[k] - v for k, v in sent.items() if k in watcher.assigned]
    to_command = [watcher.commanded[k] - v for k, v in sent.items() if k in watcher.commanded]
    on_the_spot = sum(1 for k in sent if k in watcher.finished and k not in watcher.commanded)
    waiting = len(sent) - len(to_command) - on_the_spot
    wall = t1 - t0
    print(f"service load: {args.robots} simulated robots (clock x{args.speed:g}: each reports "
          f"every {60 / args.speed:g} s wall), {args.clients} staff clients for {wall:.1f} s, "
          f"mean think {args.think:g} s; {len(submit)} tasks submitted "
          f"({len(submit) / wall:.1f}/s), {len(failed)} failed")
    print(f"  HTTP round trip GET /api/health (kept-alive, idle): {quantiles(health)}")
    print(f"  submit latency (POST -> 201): {quantiles(submit)}")
    print(f"  event-to-assignment (POST -> task assigned on /api/live): {quantiles(to_assign)}")
    print(f"  event-to-command (POST -> robot message with the task): {quantiles(to_command)}; "
          f"{on_the_spot} done on the spot (the robot stood at the room), {waiting} not "
          f"commanded within {DRAIN:g} s of the end")
    print(f"  robot messages on /api/live during the load: {robot_messages / wall:.0f}/s")
    print(f"  server CPU: {(cpu1 - cpu0) / wall * 100:.0f} % of one core under load, "
          f"{idle_share * 100:.0f} % with the robots alone ({os.cpu_count()} cores here; "
          f"the clients run on the same machine)")
    if watcher.closed_by_server:
        print(f"  note: the live socket ended early: {watcher.closed_by_server}")
    if failed:
        print(f"  first failures: {failed[:3]}")
    print(f"  bench wall time {time.perf_counter() - bench_started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
