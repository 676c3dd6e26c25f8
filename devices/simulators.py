"""Simulated ward devices: they advertise with zeroconf, claim their key, beat and report.

A ``SimDevice`` behaves as the README asks of a real one: it advertises
``_carefleet._tcp.local.`` (TXT ``id``, ``kind``, ``room``, ``model``, ``firmware``,
``api``), shows a pairing code (``code``), asks ``POST /api/devices/claim`` for its key
until it is paired (with the proof of its code), then signs every event with that key
and sends a heartbeat every ``heartbeat`` seconds. A ``Simulator`` runs many on one
``AsyncZeroconf`` bound to ``127.0.0.1`` (never beyond the machine in tests).

``carefleet devices simulate SPEC.yaml`` runs a ``SimPlan``::

    service: http://127.0.0.1:8000
    heartbeat: 10s
    duration: 2m            # then every device says goodbye; omit: until Ctrl-C
    devices:
      - {id: bed-101, kind: bed_exit, room: room_101}
      - {id: band-anna, kind: wearable, resident: anna, room: room_101}
    script:
      - {after: 5s, device: bed-101, event: bed_exit}
      - {after: 20s, device: band-anna, event: vitals, data: {heart_rate: 140, spo2: 95}}
      - {after: 30s, device: bed-101, do: die}          # stops beating, says nothing
      - {after: 40s, device: band-anna, do: battery, level: 0.1}
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from carefleet.errors import InputError, SourceError
from carefleet.fields import Reader
from carefleet.devices import protocol
from carefleet.devices.discovery import LOOPBACK, SERVICE_TYPE
from carefleet.devices.model import ALL_EVENTS, Device, DeviceKind
from carefleet.devices.rules import duration

ACTIONS = ("die", "revive", "goodbye", "battery")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimSpec:
    """One simulated device (``device`` is what it says about itself)."""

    device: Device
    heartbeat: float = 10.0
    battery: float = 1.0
    code: str | None = None          # the pairing code it shows; made up when None


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    after: float
    device: str
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    room: str | None = None
    action: str | None = None
    level: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SimPlan:
    service: str
    devices: tuple[SimSpec, ...]
    script: tuple[Step, ...] = ()
    duration: float | None = None
    interfaces: tuple[str, ...] = LOOPBACK


class SimDevice:
    """One simulated device talking to the ward at ``service`` through ``client``."""

    def __init__(self, spec: SimSpec, client: httpx.AsyncClient, *,
                 clock: Callable[[], float] = time.time, port: int = 9) -> None:
        self.spec, self.device, self.client, self.clock = spec, spec.device, client, clock
        self.code = spec.code or protocol.new_pairing_code()
        self._code_key = protocol.code_key(self.code, self.device.id)
        self.key: bytes | None = None
        self.port = port
        self.battery = spec.battery
        self.alive = True
        self.paired = asyncio.Event()
        self.sent: list[tuple[str, int]] = []           # (event kind, HTTP status)

    @property
    def id(self) -> str:
        return self.device.id

    def service_info(self, address: str = "127.0.0.1") -> ServiceInfo:
        d = self.device
        txt = {"id": d.id, "kind": d.kind.value, "model": d.model or "CareFleet SimDevice",
               "firmware": d.firmware or "sim-1", "api": str(d.api)}
        if d.room:
            txt["room"] = d.room
        if d.resident:
            txt["resident"] = d.resident
        if d.stream_url:
            txt["stream"] = d.stream_url
        return ServiceInfo(SERVICE_TYPE, f"{d.id}.{SERVICE_TYPE}",
                           addresses=[socket.inet_aton(address)], port=self.port,
                           properties=txt, server=f"{d.id}.local.")

    # -- pairing ---------------------------------------------------------------
    async def claim_once(self) -> str:
        """Ask for the key once: ``paired``, ``waiting`` or the refusal code."""
        body = protocol.claim_body(device=self.id, at=self.clock())
        response = await self.client.post(
            "/api/devices/claim", content=protocol.canonical(body),
            headers={"Content-Type": "application/json",
                     protocol.PROOF_HEADER: protocol.claim_proof(body, self._code_key)})
        answer = response.json()
        if response.status_code == 200:
            if "wrapped_key" in answer:
                self.key = protocol.unwrap_key(answer["wrapped_key"], self._code_key,
                                               body["nonce"])
            else:
                self.key = protocol.decode_key(answer["key"])
            self.paired.set()
            return "paired"
        if response.status_code == 202:
            return "waiting"
        return str(answer.get("error", {}).get("code", response.status_code))

    async def claim(self, *, poll: float = 0.1, timeout: float = 60.0) -> bytes:
        """Ask until paired (a real device polls the same way)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                outcome = await self.claim_once()
            except (httpx.HTTPError, ValueError) as error:   # the ward is busy or away
                outcome = "unreachable"
                if time.monotonic() > deadline:
                    raise SourceError(f"device {self.id}: the ward did not answer: "
                                      f"{error}") from None
            if outcome == "paired":
                assert self.key is not None
                return self.key
            if outcome not in ("waiting", "bad_proof", "unreachable") \
                    or time.monotonic() > deadline:
                raise SourceError(f"device {self.id}: not paired ({outcome})")
            await asyncio.sleep(poll)

    # -- events -----------------------------------------------------------------
    def signed(self, kind: str, data: dict[str, Any] | None = None, *, room: str | None = None,
               at: float | None = None, nonce: str | None = None,
               key: bytes | None = None) -> tuple[bytes, str]:
        body = protocol.event_body(device=self.id, kind=kind, room=room,
                                   at=self.clock() if at is None else at,
                                   data=data, nonce=nonce)
        return protocol.sign_event(body, key or self.key or b"\0" * 32)

    async def post(self, payload: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[protocol.SIGNATURE_HEADER] = signature
        return await self.client.post("/api/devices/events", content=payload, headers=headers)

    async def send(self, kind: str, data: dict[str, Any] | None = None, *,
                   room: str | None = None, at: float | None = None) -> httpx.Response:
        """Sign and send one event with this device's key."""
        response = await self.post(*self.signed(kind, data, room=room, at=at))
        self.sent.append((kind, response.status_code))
        return response

    async def heartbeats(self) -> None:
        """Beat every ``heartbeat`` seconds while alive and paired (the device's own
        rhythm, not a test's wait)."""
        await self.paired.wait()
        while True:
            if self.alive:
                try:
                    await self.send("heartbeat", {"battery": round(self.battery, 3)})
                except httpx.HTTPError:
                    pass                   # the ward is away: beat again next time
            await asyncio.sleep(self.spec.heartbeat)


class Simulator:
    """Many simulated devices on one zeroconf instance, talking to one ward."""

    def __init__(self, specs: Iterable[SimSpec], service: str, *,
                 interfaces: Iterable[str] = LOOPBACK, clock: Callable[[], float] = time.time,
                 advertise: bool = True) -> None:
        self.service, self.interfaces = service.rstrip("/"), list(interfaces)
        self.advertise = advertise
        self.client = httpx.AsyncClient(base_url=self.service, timeout=30)
        self.devices = {spec.device.id: SimDevice(spec, self.client, clock=clock)
                        for spec in specs}
        self.azc: AsyncZeroconf | None = None
        self._infos: list[ServiceInfo] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._status: asyncio.AbstractServer | None = None

    def __getitem__(self, device_id: str) -> SimDevice:
        return self.devices[device_id]

    async def async_start(self, *, claim: bool = True, heartbeats: bool = True,
                          poll: float = 0.1) -> None:
        """Advertise every device (they probe for their names at once), then claim
        keys and beat in the background."""
        self._status = await asyncio.start_server(self._answer_status, "127.0.0.1", 0)
        port = self._status.sockets[0].getsockname()[1]
        for device in self.devices.values():
            device.port = port
        if self.advertise:
            self.azc = AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
            self._infos = [d.service_info(self.interfaces[0]) for d in self.devices.values()]
            # A name still cached on the link from an earlier run is renamed, not fatal:
            # a device is known by the id in its TXT record, never by its instance name.
            registrations = await asyncio.gather(
                *(self.azc.async_register_service(info, allow_name_change=True)
                  for info in self._infos))
            await asyncio.gather(*registrations)
        for device in self.devices.values():
            if claim:
                self._tasks.append(asyncio.create_task(self._claim(device, poll)))
            if heartbeats:
                self._tasks.append(asyncio.create_task(device.heartbeats()))

    async def _claim(self, device: SimDevice, poll: float) -> None:
        try:
            await device.claim(poll=poll, timeout=3600)
        except (SourceError, httpx.HTTPError):
            pass

    async def _answer_status(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        """``GET /<id>``: what the device would show on its status page (no code:
        a real device shows that on its own screen, not on the network)."""
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1")
            device = self.devices.get(line.split(" ")[1].strip("/")) if " " in line else None
            body = json.dumps({"id": device.id, "kind": device.device.kind.value,
                               "paired": device.key is not None} if device else {}).encode()
            status = b"200 OK" if device else b"404 Not Found"
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.TimeoutError, OSError, IndexError):
            pass
        finally:
            writer.close()

    async def wait_paired(self, ids: Iterable[str] | None = None, timeout: float = 60.0) -> None:
        """Until every device (or those named) holds its key; names the laggards."""
        wanted = [self.devices[i] for i in (ids or self.devices)]
        try:
            await asyncio.wait_for(asyncio.gather(*(d.paired.wait() for d in wanted)), timeout)
        except asyncio.TimeoutError:
            left = [d.id for d in wanted if not d.paired.is_set()]
            raise SourceError(f"not paired within {timeout:g} s: {', '.join(left)}") from None

    async def withdraw(self, device_id: str) -> None:
        """Stop advertising one device (its goodbye packets tell browsers it left)."""
        info = next((i for i in self._infos if i.properties.get(b"id") == device_id.encode()),
                    None)
        if info is not None and self.azc is not None:
            await self.azc.async_unregister_service(info)
            self._infos.remove(info)

    async def run_script(self, script: Iterable[Step], *, on_step: Callable[[Step, str], None]
                         | None = None) -> None:
        started = time.monotonic()
        for step in sorted(script, key=lambda s: s.after):
            delay = started + step.after - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)      # the script's own timetable
            device = self.devices[step.device]
            outcome = await self._do(device, step)
            if on_step is not None:
                on_step(step, outcome)

    async def _do(self, device: SimDevice, step: Step) -> str:
        if step.action == "die":
            device.alive = False
            return "silent"
        if step.action == "revive":
            device.alive = True
            return "beating"
        if step.action == "battery":
            device.battery = float(step.level if step.level is not None else 0.1)
            response = await device.send("heartbeat", {"battery": device.battery})
            return str(response.status_code)
        if step.action == "goodbye":
            device.alive = False
            response = await device.send("goodbye")
            await self.withdraw(device.id)
            return str(response.status_code)
        assert step.event is not None
        if device.key is None:
            return "not paired"
        response = await device.send(step.event, step.data, room=step.room)
        return str(response.status_code)

    async def async_stop(self, *, goodbye: bool = False) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if goodbye:
            for device in self.devices.values():
                if device.key is not None and device.alive:
                    try:
                        await device.send("goodbye")
                    except httpx.HTTPError:
                        pass
        if self.azc is not None:
            await self.azc.async_unregister_all_services()
            await self.azc.async_close()
            self.azc = None
        if self._status is not None:
            self._status.close()
            await self._status.wait_closed()
        await self.client.aclose()


# == the spec file ==============================================================
def read_plan(top: Reader, service: str | None = None) -> SimPlan:
    top.only("service", "heartbeat", "duration", "interfaces", "devices", "script")
    url = service or top.str("service", "http://127.0.0.1:8000")
    if not url.startswith(("http://", "https://")):
        raise top.error("service", "expected the ward's URL, http://HOST:PORT")
    heartbeat = top.convert("heartbeat", duration, 10.0)
    specs: list[SimSpec] = []
    for entry in top.items("devices"):
        entry.only("id", "kind", "room", "resident", "model", "firmware", "labels",
                   "stream_url", "heartbeat", "battery", "code")
        try:
            device = Device(id=entry.str("id"), kind=entry.str(
                "kind", choices=[k.value for k in DeviceKind]), room=entry.str("room", None),
                resident=entry.str("resident", None), model=entry.str("model", ""),
                firmware=entry.str("firmware", ""),
                labels=frozenset(entry.strings("labels", [])),
                stream_url=entry.str("stream_url", None))
        except InputError as exc:
            if exc.line is not None:
                raise
            raise entry.error(exc.field or "id", exc.message) from None
        if any(s.device.id == device.id for s in specs):
            raise entry.error("id", f"device '{device.id}' is listed twice")
        code = entry.str("code", None)
        if code is not None:
            try:
                protocol.normal_code(code)
            except InputError as exc:
                raise entry.error("code", exc.message) from None
        specs.append(SimSpec(device=device, code=code,
                             heartbeat=entry.convert("heartbeat", duration, heartbeat),
                             battery=entry.number("battery", 1.0, minimum=0, maximum=1)))
    ids = {s.device.id: s for s in specs}
    script: list[Step] = []
    for entry in top.items("script", []):
        entry.only("after", "device", "event", "data", "room", "do", "level")
        device_id = entry.str("device")
        if device_id not in ids:
            raise entry.error("device", f"no device '{device_id}' under devices")
        if ("event" in entry) == ("do" in entry):
            raise entry.error(None, "give either event (what it reports) or do "
                              f"({', '.join(ACTIONS)})")
        event = entry.str("event", None, choices=ALL_EVENTS)
        if event is not None and not ids[device_id].device.accepts(event):
            raise entry.error("event", f"a {ids[device_id].device.kind.value} does not send "
                              f"'{event}'")
        script.append(Step(
            after=entry.convert("after", duration), device=device_id, event=event,
            data=dict(entry.mapping("data").data) if "data" in entry else {},
            room=entry.str("room", None), action=entry.str("do", None, choices=ACTIONS),
            level=entry.number("level", None, minimum=0, maximum=1)))
    interfaces = tuple(top.strings("interfaces", list(LOOPBACK)))
    return SimPlan(service=url, devices=tuple(specs), script=tuple(script),
                   duration=top.convert("duration", duration, None), interfaces=interfaces)


def load_plan(path: str | Path, service: str | None = None) -> SimPlan:
    from carefleet.yamlfile import load_yaml
    return read_plan(Reader(str(path), load_yaml(path)), service)
