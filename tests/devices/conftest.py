"""Fixtures for the ward-device tests.

- ``ward``: a real host and orchestrator core for the demo site on a virtual clock, with
  a ``DeviceManager`` posting to it (in-process: time is the clock's, nothing sleeps);
- ``served``: a real ``carefleet serve SITE`` process, SITE being the demo site with the
  test's ``devices:`` section, on 127.0.0.1 and a free port, with an admin (``ada``) and a
  nurse (``nora``) logged in;
- ``run``: runs a coroutine to completion (the simulators are asyncio).

Every wait has a deadline and polls a condition; none sleeps a fixed time for correctness.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from carefleet.devices.config import DeviceConfig, load_device_config
from carefleet.devices.manager import DeviceManager
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.host import Host, ReadModel, VirtualClock
from carefleet.service.accounts import Accounts
from carefleet.service.site import DEMO_SITE, load_site

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CARE = [sys.executable, "-m", "carefleet.cli"]
PASSWORD = "correct-horse-battery"
SITE = load_site(DEMO_SITE)
ZONE = ZoneInfo(SITE.ward.timezone)


def local(hour: int, minute: int = 0, day: int = 1) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=ZONE).timestamp()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0,
             every: float = 0.02) -> Any:
    """Poll ``check`` until it returns something true (a guard, not a timing test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


async def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """``wait_for`` for coroutines."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def run() -> Callable[[Any], Any]:
    return lambda coroutine: asyncio.run(coroutine)


# == in-process ==============================================================
@dataclass
class Ward:
    host: Host
    read: ReadModel
    clock: VirtualClock
    devices: DeviceManager

    def settle(self) -> None:
        """Handle everything posted so far (the host's step, as the simulator does)."""
        while self.host.step():
            pass

    def tasks(self) -> list[dict[str, Any]]:
        return self.host.store.all_tasks()

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.read.snapshot()["alerts"].values())

    def notifications(self) -> list[Any]:
        return [n for _, n in self.read.snapshot()["notifications"]]


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[Callable[..., Ward]]:
    made: list[Ward] = []

    def make(config: DeviceConfig | str | None = None, *, start: float = local(23)) -> Ward:
        clock = VirtualClock(start)
        site = SITE
        host = Host(lambda incarnation: Orchestrator(site.ward, site.robots, start=clock.now(),
                                                     schedules=(), incarnation=incarnation),
                    str(tmp_path / "ward.db"), clock=clock, driver_timeout=None,
                    core_faults="raise")
        if isinstance(config, str):
            path = tmp_path / "devices.yaml"
            path.write_text(config)
            config = load_device_config(path, site.ward)
        manager = DeviceManager(site.ward, str(tmp_path / "ward.db"), host.post,
                                config=config or DeviceConfig(), ward_clock=clock.now,
                                wall=clock.now)
        w = Ward(host, ReadModel(host), clock, manager)
        made.append(w)
        return w
    yield make
    for w in made:
        w.devices.stop()
        w.host.close()


# == a real service process ===================================================
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_user(store: Path, name: str, role: str) -> None:
    """As ``carefleet users add`` does (in-process: the command has its own tests)."""
    with Accounts(store) as accounts:
        accounts.add_user(name, role, PASSWORD, time.time())


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    store: Path
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def login(self, name: str) -> httpx.Client:
        response = httpx.post(f"{self.url}/api/auth/token",
                              data={"username": name, "password": PASSWORD}, timeout=30)
        response.raise_for_status()
        self.tokens[name] = response.json()["access_token"]
        self.clients[name] = httpx.Client(base_url=self.url, timeout=30, headers={
            "Authorization": f"Bearer {self.tokens[name]}"})
        return self.clients[name]

    def devices(self, who: str = "nora") -> dict[str, Any]:
        response = self.clients[who].get("/api/devices")
        response.raise_for_status()
        return response.json()

    def device(self, device_id: str, who: str = "nora") -> dict[str, Any] | None:
        listing = self.devices(who)
        for state in ("paired", "pending", "rejected", "unpaired"):
            for d in listing[state]:
                if d["id"] == device_id:
                    return d
        return None

    def alerts(self, who: str = "nora") -> list[dict[str, Any]]:
        return self.clients[who].get("/api/alerts").json()

    def tasks(self, who: str = "nora") -> list[dict[str, Any]]:
        return self.clients[who].get("/api/tasks").json()

    def stop(self) -> int:
        for client in self.clients.values():
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_served(folder: Path, devices: str, *, speed: float = 1.0) -> Served:
    """A running ward in ``folder`` with the device routes and ``devices`` as its
    ``devices:`` section; users ``ada`` (admin) and ``nora`` (nurse) are logged in."""
    store = folder / "ward.db"
    section = yaml.safe_load(devices) or {}
    if set(section) == {"devices"}:
        section = section["devices"]
    site = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")) | {"devices": section}
    site_file = folder / "site.yaml"
    site_file.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False))
    for name, role in (("ada", "admin"), ("nora", "nurse")):
        add_user(store, name, role)
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [*CARE, "serve", str(site_file), "--store", str(store), "--port", str(port),
         "--speed", str(speed)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()          # type: ignore[union-attr]
        if not line:
            break
        lines.append(line)
        if line.startswith("CareFleet:") and "http://" in line:
            break
    if process.poll() is not None or not lines or "http://" not in lines[-1]:
        process.kill()
        raise AssertionError("the ward did not start:\n" + "".join(lines))
    served = Served(process, f"http://127.0.0.1:{port}", store, output=lines)

    def drain() -> None:                 # keep the pipe from filling up
        for line in process.stdout:       # type: ignore[union-attr]
            lines.append(line)
    threading.Thread(target=drain, daemon=True).start()
    try:
        for name in ("ada", "nora"):
            served.login(name)
    except Exception:
        served.stop()
        raise
    return served


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``served(devices_yaml)``: a running ward with the device routes (one per test)."""
    running: list[Served] = []

    def start(devices: str, *, speed: float = 1.0) -> Served:
        running.append(start_served(tmp_path, devices, speed=speed))
        return running[-1]
    yield start
    for served in running:
        served.stop()
