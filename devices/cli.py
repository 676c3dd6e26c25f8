"""``carefleet devices``: find, pair, list and simulate ward devices.

    carefleet devices discover [--timeout S] [--json] [--interface IP] [--store FILE]
    carefleet devices pair ID [--code CODE] [--room R] [--resident X] --service URL
    carefleet devices reject ID | unpair ID --service URL
    carefleet devices list [--json] --service URL
    carefleet devices simulate SPEC.yaml [--service URL] [--duration S]

``discover`` listens on 127.0.0.1 unless told otherwise (``--interface``). Commands that
talk to a running ward take ``--service`` and a token: ``--token``, the environment's
``CAREFLEET_TOKEN``, or ``--user NAME`` (asks for the password).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from carefleet.errors import InputError, SourceError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "devices", help="ward devices: discover, pair, list, simulate",
        description="Find ward devices advertised with zeroconf, pair and list them on a "
                    "running ward, or run simulated devices (README, 'Ward devices').")
    commands = parser.add_subparsers(dest="devices_command", metavar="ACTION", required=True)

    discover = commands.add_parser("discover", help="list what is advertised on the network")
    discover.add_argument("--timeout", type=_seconds, default=3.0,
                          help="seconds to listen (default 3)")
    discover.add_argument("--json", action="store_true", help="print JSON")
    discover.add_argument("--interface", action="append", metavar="IP",
                          help="IPv4 address of the interface to browse on (default "
                               "127.0.0.1; repeat for more; 'all' for every interface)")
    discover.add_argument("--store", metavar="FILE",
                          help="the ward's store: say which devices are paired")
    discover.set_defaults(func=_discover)

    def with_service(p: argparse.ArgumentParser) -> None:
        p.add_argument("--service", default=os.environ.get("CAREFLEET_URL",
                                                           "http://127.0.0.1:8000"),
                       help="the ward's URL (default $CAREFLEET_URL or http://127.0.0.1:8000)")
        p.add_argument("--token", default=None, help="a bearer token (default $CAREFLEET_TOKEN)")
        p.add_argument("--user", default=None, help="log in as this user (asks for a password)")

    pair = commands.add_parser("pair", help="pair a device (allow-listed, or with its code)")
    pair.add_argument("id")
    pair.add_argument("--code", help="the pairing code the device shows")
    pair.add_argument("--room", help="the room it is in (when it does not say)")
    pair.add_argument("--resident", help="a wearable's resident")
    with_service(pair)
    pair.set_defaults(func=_pair)
    for name, text in (("reject", "refuse a pending device"),
                       ("unpair", "revoke a device's key")):
        p = commands.add_parser(name, help=text)
        p.add_argument("id")
        with_service(p)
        p.set_defaults(func=_change, action=name)

    listing = commands.add_parser("list", help="devices of a running ward, with their health")
    listing.add_argument("--json", action="store_true", help="print JSON")
    with_service(listing)
    listing.set_defaults(func=_list)

    simulate = commands.add_parser("simulate", help="run simulated devices (SPEC.yaml)")
    simulate.add_argument("spec", help="the simulation spec (README, 'Ward devices')")
    simulate.add_argument("--service", help="the ward's URL (overrides the spec's)")
    simulate.add_argument("--duration", type=_seconds, help="stop after S seconds")
    simulate.set_defaults(func=_simulate)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("give 0 to 3600 seconds")
    return value


# -- discover -------------------------------------------------------------------
def _discover(args: argparse.Namespace) -> int:
    from carefleet.devices.discovery import LOOPBACK, discover
    interfaces: Any = args.interface or list(LOOPBACK)
    if "all" in interfaces:
        interfaces = None
    found = discover(args.timeout, interfaces=interfaces)
    states = _stored_states(args.store) if args.store else {}
    rows = []
    for advert in found:
        d = advert.device
        rows.append({"id": d.id, "kind": d.kind.value, "room": d.room, "resident": d.resident,
                     "model": d.model, "firmware": d.firmware, "api": d.api,
                     "address": f"{advert.addresses[0]}:{advert.port}" if advert.addresses
                     else None, "service": advert.service_type.rstrip("."),
                     "paired": states.get(d.id) == "paired" if args.store else None,
                     "pairing": states.get(d.id, "not paired") if args.store else "unknown"})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no devices advertised (listened {args.timeout:g} s)")
        return 0
    _table(rows, ("id", "kind", "room", "address", "model", "pairing"))
    return 0


def _stored_states(store: str) -> dict[str, str]:
    """Pairing states from a store file, read-only (nothing is created or changed)."""
    path = Path(store)
    if not path.is_file():
        raise InputError(store, "no such store file")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT id, state FROM devices").fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise InputError(store, f"cannot read devices: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise InputError(store, f"not a CareFleet store: {exc}") from None
    return dict(rows)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    text = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for line in text:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())


# -- talking to a ward -------------------------------------------------------------
def _client(args: argparse.Namespace) -> Any:
    import httpx
    token = args.token or os.environ.get("CAREFLEET_TOKEN")
    base = args.service.rstrip("/")
    if not token and args.user:
        password = getpass.getpass(f"password for {args.user}: ") if sys.stdin.isatty() \
            else sys.stdin.readline().rstrip("\n")
        try:
            response = httpx.post(f"{base}/api/auth/token",
                                  data={"username": args.user, "password": password}, timeout=30)
        except httpx.HTTPError as exc:
            raise SourceError(f"{base}: {exc}") from None
        if response.status_code != 200:
            raise InputError("--user", _message(response))
        token = response.json()["access_token"]
    if not token:
        raise InputError("--token", "give --token, set CAREFLEET_TOKEN, or --user NAME")
    return httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})


def _message(response: Any) -> str:
    try:
        error = response.json()["error"]
        return f"{error['message']} ({response.status_code} {error['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    import httpx
    with _client(args) as client:
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise SourceError(f"{args.service}: {exc}") from None
    if response.status_code >= 400:
        raise InputError(f"device {getattr(args, 'id', '')}".strip(), _message(response))
    return response.json()


def _pair(args: argparse.Namespace) -> int:
    body = {k: v for k, v in (("code", args.code), ("room", args.room),
                              ("resident", args.resident)) if v}
    answer = _call(args, "POST", f"/api/devices/{args.id}/pair", body or None)
    print(f"{args.id}: {answer['device'].get('pairing')} ({answer['reason']})")
    return 0


def _change(args: argparse.Namespace) -> int:
    answer = _call(args, "POST", f"/api/devices/{args.id}/{args.action}")
    print(f"{args.id}: {answer['device'].get('pairing')} ({answer['reason']})")
    return 0


def _list(args: argparse.Namespace) -> int:
    listing = _call(args, "GET", "/api/devices")
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    rows = []
    for state in ("paired", "pending", "rejected", "unpaired"):
        for d in listing.get(state, []):
            rows.append({**d, "pairing": state, "health": d.get("health") or "",
                         "where": d.get("location") or d.get("room") or d.get("resident")})
    if not rows:
        print("no devices")
    else:
        _table(rows, ("id", "kind", "where", "pairing", "health", "battery", "model"))
    if listing.get("refusals"):
        print("refused: " + ", ".join(f"{k} {v}" for k, v in sorted(listing["refusals"].items())))
    return 0


# -- simulate -----------------------------------------------------------------------
def _simulate(args: argparse.Namespace) -> int:
    from carefleet.devices.simulators import Simulator, load_plan
    plan = load_plan(args.spec, args.service)
    duration = args.duration or plan.duration

    async def run() -> None:
        simulator = Simulator(plan.devices, plan.service, interfaces=plan.interfaces)
        await simulator.async_start()
        print(f"simulating {len(plan.devices)} devices for {plan.service} "
              f"(advertised on {', '.join(plan.interfaces)}); pairing codes:", flush=True)
        for device in simulator.devices.values():
            print(f"  {device.id:<20} {device.device.kind.value:<13} code {device.code}",
                  flush=True)

        def told(step: Any, outcome: str) -> None:
            what = step.event or step.action
            print(f"{step.after:>7.1f}s {step.device}: {what} -> {outcome}", flush=True)
        try:
            script = asyncio.create_task(simulator.run_script(plan.script, on_step=told))
            if duration is not None:
                await asyncio.sleep(duration)     # the user asked to run this long
            else:
                await asyncio.Event().wait()      # until Ctrl-C
            script.cancel()
        finally:
            await simulator.async_stop(goodbye=True)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    print("simulation over", flush=True)
    return 0
