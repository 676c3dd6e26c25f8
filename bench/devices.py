"""Ward devices on loopback: discover + pair 100 devices, then event-to-task latency.

One process holds a live ward (the demo site's ``WardService``, ``create_app`` with the
device routes, uvicorn on 127.0.0.1, zeroconf browsing 127.0.0.1) and 100 simulated
devices (one ``AsyncZeroconf`` on 127.0.0.1, one HTTP client), all allow-listed:

1. **discover and pair**: from the moment the devices start advertising until every one
   holds its key (mDNS probing and announcing, the ward's browse and resolve, the
   allow-list pairing, each device's claim);
2. **event-to-task latency**: with all 100 sending a heartbeat every 10 s (staggered),
   devices send ``bed_exit`` events one at a time; the time from the POST to the
   ``go_to`` task appearing on the host's change feed (committed), and the POST's own
   round trip (its 202 waits for that commit).

Prints the figures; asserts nothing (a slow machine is not a bug).
Run: .venv/bin/python bench/devices.py [--devices 100] [--events 50] [--heartbeat 10]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from carefleet.devices.config import load_device_config
from carefleet.devices.model import Device
from carefleet.devices.simulators import SimSpec, Simulator
from carefleet.service.api import create_app
from carefleet.service.devices_api import devices_router
from carefleet.service.site import DEMO_SITE, load_site
from carefleet.service.ward import WardService

RULES = """version: 1
rules:
  - {name: bed_exit, when: {event: bed_exit}, per: device,
     then: {task: {kind: go_to, place: "{room}", priority: high}}}
"""


def ward(folder: Path, count: int, heartbeat: float) -> tuple[WardService, uvicorn.Server,
                                                              str, list[Device]]:
    site = load_site(DEMO_SITE)
    rooms = sorted(p.id for p in site.ward.places.values() if p.kind.value == "resident_room")
    devices = [Device(id=f"bed-{i:03d}", kind="bed_exit", room=rooms[i % len(rooms)])
               for i in range(count)]
    (folder / "rules.yaml").write_text(RULES)
    (folder / "devices.yaml").write_text(
        "discovery: {interfaces: [127.0.0.1]}\n"
        f"heartbeat: {{interval: {heartbeat}s, missed: 3}}\nrules: rules.yaml\nallow:\n"
        + "".join(f"  - {{id: {d.id}, kind: bed_exit, room: {d.room}}}\n" for d in devices))
    config = load_device_config(folder / "devices.yaml", site.ward)
    service = WardService(site, store=folder / "ward.db")
    app = create_app(service)
    has_devices = "/api/devices/events" in app.openapi()["paths"]
    app.openapi_schema = None                     # built again, with what is added below
    if not has_devices:
        app.include_router(devices_router(service, config))
        for mount in [r for r in app.router.routes if getattr(r, "name", "") == "dashboard"]:
            app.router.routes.remove(mount)
            app.router.routes.append(mount)
    service.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return service, server, f"http://127.0.0.1:{sock.getsockname()[1]}", devices


async def measure(service: WardService, url: str, devices: list[Device], events: int,
                  heartbeat: float) -> None:
    specs = [SimSpec(device=d, heartbeat=heartbeat) for d in devices]
    simulator = Simulator(specs, url)
    begin = time.perf_counter()
    await simulator.async_start(heartbeats=False, poll=0.05)
    advertised = time.perf_counter()
    await simulator.wait_paired(timeout=120)
    paired = time.perf_counter()
    print(f"discover + pair {len(devices)} devices: {paired - begin:.2f} s "
          f"(advertising, incl. mDNS probing: {advertised - begin:.2f} s; then browse, "
          f"resolve, allow-list pairing and key claims: {paired - advertised:.2f} s)")

    committed: dict[str, float] = {}

    def on_change(change) -> None:                  # the host's thread
        if change.kind == "task":              # first record of it: committed, maybe assigned
            committed.setdefault(change.data.get("requested_by", ""), time.perf_counter())
    unsubscribe = service.host.subscribe(on_change)

    async def beat(device, offset: float) -> None:
        await asyncio.sleep(offset)                # stagger the devices over one interval
        await device.heartbeats()
    beats = [asyncio.create_task(beat(d, i * heartbeat / len(devices)))
             for i, d in enumerate(simulator.devices.values())]
    await asyncio.sleep(heartbeat)                 # let one full round of heartbeats run
    latencies, round_trips = [], []
    senders = list(simulator.devices.values())
    for i in range(events):
        device = senders[i % len(senders)]
        who = f"device:{device.id}"
        committed.pop(who, None)
        sent = time.perf_counter()
        response = await device.send("bed_exit")
        answered = time.perf_counter()
        if response.status_code != 202:
            print(f"  {device.id}: {response.status_code} {response.text}")
            continue
        while who not in committed and time.perf_counter() - sent < 2:
            await asyncio.sleep(0.001)
        if who in committed:
            latencies.append(committed[who] - sent)
            round_trips.append(answered - sent)
        await asyncio.sleep(0.05)
    unsubscribe()
    for task in beats:
        task.cancel()
    beats_sent = sum(1 for d in senders for kind, status in d.sent if kind == "heartbeat")
    await simulator.async_stop()
    if latencies:
        ms = sorted(x * 1000 for x in latencies)
        rt = sorted(x * 1000 for x in round_trips)
        print(f"event -> task committed ({len(ms)} bed exits, {len(devices)} devices beating "
              f"every {heartbeat:g} s, {beats_sent} heartbeats meanwhile): median "
              f"{statistics.median(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, "
              f"max {ms[-1]:.1f} ms")
        print(f"POST /api/devices/events round trip (202 after the commit): median "
              f"{statistics.median(rt):.1f} ms, max {rt[-1]:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        service, server, url, devices = ward(Path(folder), args.devices, args.heartbeat)
        try:
            asyncio.run(measure(service, url, devices, args.events, args.heartbeat))
        finally:
            server.should_exit = True
            getattr(service, "devices", None) and service.devices.stop()
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
