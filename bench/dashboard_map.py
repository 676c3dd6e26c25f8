"""The dashboard's live map with 50 simulated robots, measured in a real headless Chromium.

A site of 50 simulated robots on the demo ward runs under ``carefleet serve`` (clock x20),
every robot on a long patrol of its own, and the dashboard follows it through
``/api/live``. For SECONDS seconds the page's own counters are read once a second:

- map updates per second: animation frames in which robot changes were drawn;
- robot changes drawn per second (several robots may move in one frame);
- how long a change waited in the page before it was drawn (mean, max);
- how far the map is behind the ward: the ward's clock (``/api/kpis``) minus the ward
  time of the newest robot change drawn, in wall seconds (a page that fell behind would
  see this grow; the service also cuts a client 2,000 changes behind, counted as a
  reconnect).

It prints the figures and asserts nothing (bench/ never holds timed assertions).
Nothing leaves the machine: Chromium resolves no host but 127.0.0.1.

    .venv/bin/python bench/dashboard_map.py [--robots 50] [--seconds 15] [--speed 20]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

CARE = [sys.executable, "-m", "carefleet.cli"]
PASSWORD = "bench-password-1234"
ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def site_file(folder: Path, robots: int) -> Path:
    from carefleet.maps import load_ward
    ward = load_ward(Path(__file__).resolve().parents[1] / "maps" / "wards" / "demo_ward.yaml")
    starts = sorted(ward.waypoints)
    lines = ["name: dashboard bench", "ward: demo_ward", "fleet:", "  profiles:", "    bot:",
             "      model: BenchBot", "      speed: 0.8", "      trays: 4",
             "      capabilities: [meal_delivery, patrol, camera]",
             "      battery: {capacity_wh: 4800, drain_per_m_wh: 0.06, drain_idle_w: 12, charge_w: 240}",
             "  robots:"]
    for i in range(robots):
        lines.append(f"    - {{id: bot_{i + 1:02d}, profile: bot, start: {starts[i % len(starts)]}, "
                     "driver: simulated}")
    lines += ["cameras: []", "language: en"]
    path = folder / "site.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(site: Path, store: Path, speed: float) -> tuple[subprocess.Popen, str]:
    subprocess.run([*CARE, "users", "add", "anna", "--role", "nurse", "--store", str(store)],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen([*CARE, "serve", str(site), "--speed", str(speed), "--store", str(store),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    while True:
        line = process.stdout.readline()              # type: ignore[union-attr]
        if not line:
            raise SystemExit("serve did not start")
        if line.startswith("CareFleet:") and "http://" in line:
            return process, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--speed", type=float, default=20.0)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("dashboard map: playwright is not installed; skipped")
        return 0
    if not Path(chromium).exists():
        print("dashboard map: chromium is not installed; skipped")
        return 0

    folder = Path(tempfile.mkdtemp(prefix="carefleet-dashboard-bench-"))
    process, url = start(site_file(folder, args.robots), folder / "ward.db", args.speed)
    try:
        token = httpx.post(f"{url}/api/auth/token", data={"username": "anna", "password": PASSWORD},
                           timeout=30).json()["access_token"]
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        ward = api.get("/api/ward").json()
        rooms = [p["id"] for p in ward["places"] if p["kind"] == "resident_room"]
        rng = random.Random(7)
        for i in range(args.robots):           # every robot busy: a long patrol of its own
            api.post("/api/tasks", json={"kind": "patrol", "robot": f"bot_{i + 1:02d}",
                                         "checkpoints": rng.sample(rooms, 6), "rounds": 50}
                     ).raise_for_status()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            elsewhere: list[str] = []

            def guard(route) -> None:
                if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()
            page.route("**/*", guard)
            page.goto(url + "/")
            page.fill("#login-user", "anna")
            page.fill("#login-password", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_function(f"document.querySelectorAll('#map .robot').length >= {args.robots}",
                                   timeout=60_000)
            page.wait_for_timeout(3000)                     # warm up: every robot under way
            read = """() => ({...window.carefleet.stats, wall: performance.now(),
                              updates: window.carefleet.map.updates})"""
            first = page.evaluate(read)
            lags = []
            for _ in range(args.seconds):
                page.wait_for_timeout(1000)
                sample = page.evaluate(read)
                ward_now = api.get("/api/kpis").json()["until"]
                lags.append((ward_now - sample["lastDrawnAt"]) / args.speed)
            last = page.evaluate(read)
            browser.close()
        wall = (last["wall"] - first["wall"]) / 1000
        frames = last["frames"] - first["frames"]
        drawn = last["drawn"] - first["drawn"]
        messages = last["robotMessages"] - first["robotMessages"]
        print(f"dashboard map, {args.robots} simulated robots, clock x{args.speed:g}, "
              f"{wall:.1f} s in headless Chromium:")
        print(f"  map updates: {frames / wall:.1f} per second ({frames} frames)")
        print(f"  robot changes received: {messages / wall:.0f}/s, drawn: {drawn / wall:.0f}/s")
        print(f"  a change waited before it was drawn: mean "
              f"{(last['waitSum'] - first['waitSum']) / max(1, drawn):.1f} ms, max {last['waitMax']:.0f} ms")
        print(f"  map behind the ward: median {statistics.median(lags) * 1000:.0f} ms, "
              f"max {max(lags) * 1000:.0f} ms (wall); reconnects: {last['reconnects']}")
        print(f"  requests to other hosts: {len(elsewhere)}")
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
