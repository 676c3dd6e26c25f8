"""A real ``carefleet serve`` for the service tests: its own process, a real store file,
uvicorn on 127.0.0.1 on a free port, accounts made with the real ``carefleet users``.

``serve(...)`` starts one and returns a ``Served`` with its URL, its store and logged-in
``httpx`` clients per role; every process is stopped at the end of the test. Nothing
sleeps a fixed time: the fixture waits for the server's own "listening" line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

CARE = [sys.executable, "-m", "carefleet.cli"]
PASSWORD = "correct-horse-battery"
START_TIMEOUT = 60.0          # a failure guard for a loaded machine, not a speed claim


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_user(store: Path, name: str, role: str, password: str = PASSWORD) -> None:
    subprocess.run([*CARE, "users", "add", name, "--role", role, "--store", str(store)],
                   input=password + "\n", text=True, check=True, capture_output=True)


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    store: Path
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def login(self, name: str, password: str = PASSWORD) -> httpx.Client:
        response = httpx.post(f"{self.url}/api/auth/token",
                              data={"username": name, "password": password}, timeout=30)
        response.raise_for_status()
        token = response.json()["access_token"]
        self.tokens[name] = token
        client = httpx.Client(base_url=self.url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"})
        self.clients[name] = client
        return client

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """Poll ``check`` until it returns something true (a guard, not a timing test)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        for client in self.clients.values():
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_serve(store: Path, *args: str, port: int | None = None) -> Served:
    port = port or free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([*CARE, "serve", *args, "--store", str(store), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()       # type: ignore[union-attr]
        if not line:
            break
        lines.append(line)
        if line.startswith("CareFleet:") and "http://" in line:
            break
    else:
        process.kill()
    if process.poll() is not None or not lines or "http://" not in lines[-1]:
        process.kill()
        raise AssertionError("serve did not start:\n" + "".join(lines))
    url = f"http://127.0.0.1:{port}"
    served = Served(process, url, store)
    served.wait_for(lambda: _healthy(url), "the server to answer")
    return served


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve("--demo", "--speed", "20", users={"anna": "nurse"})``: a running service."""
    running: list[Served] = []

    def start(*args: str, users: dict[str, str] | None = None, store: Path | None = None,
              port: int | None = None) -> Served:
        store = store or tmp_path / "ward.db"
        for name, role in (users or {}).items():
            add_user(store, name, role)
        served = start_serve(store, *(args or ("--demo",)), port=port)
        running.append(served)
        for name in users or {}:
            served.login(name)
        return served
    yield start
    for served in running:
        served.stop()


# == a real headless Chromium (tests/service/browser_helpers.py) ======================
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright, resolving no host but 127.0.0.1."""
    from browser_helpers import launch
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def guard() -> Iterator[Any]:
    """Records every request a page makes beyond this machine (asserted empty after)."""
    from browser_helpers import Guard
    stopped = Guard()
    yield stopped
    assert stopped.stopped == [], f"the page tried to reach other hosts: {stopped.stopped}"


@pytest.fixture
def page(browser: Any, guard: Any) -> Iterator[Any]:
    """A fresh tab (its own context); a script error on it fails the test."""
    from browser_helpers import new_page
    tab = new_page(browser, guard)
    yield tab
    assert tab.errors == [], tab.errors
    tab.context.close()

