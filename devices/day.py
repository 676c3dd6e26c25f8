"""Ward devices in a simulated day: the real device manager on the simulation's clock.

``DeviceDay.attach(simulation, config)`` puts the devices of a scenario (its ``devices:``
section) into a ``Simulation`` through its public surface only (``schedule(at, action)``,
its host's ``post`` and change feed, its store file): no sockets and no wall clock, so a
night with devices runs in seconds and the same every time. The simulation hands the
scenario's device happenings to ``happen``.

Everything real is kept: the allow-listed devices are paired through ``Pairings`` as if
discovery had seen them at the start, claim their keys, sign every event with them and
send them through the same ``Verifier`` and ``RuleBook`` as live; heartbeats come every
``heartbeat.interval`` of virtual time, and the health watch runs on it too. Scripted
happenings (``SCENARIO_KINDS``)::

    - {at: "23:40", kind: device, device: bed-101, event: bed_exit}
    - {at: "01:10", kind: device, device: btn-104, event: call_button, data: {request: help}}
    - {at: "03:00", kind: device_dies, device: bed-105}         # stops beating, no goodbye
    - {at: "03:30", kind: device_revives, device: bed-105}
    - {at: "04:00", kind: device_battery, device: band-bo, level: 0.1}
    - {at: "04:30", kind: device_goodbye, device: door-f1}
    - {at: "05:00", kind: device_spoof, device: bed-101, event: bed_exit, how: spoofed}

``report()`` lists every device event (accepted and refused), the refusals, what was
posted to the core, each device's health, and the response times of the alerts raised
on the day (``stage_times``), for the simulation's report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from carefleet.errors import InputError
from carefleet.fields import Reader
from carefleet.devices import protocol
from carefleet.devices.config import DeviceConfig, read_device_config
from carefleet.devices.manager import DeviceManager, Received
from carefleet.devices.model import ALL_EVENTS, Advertisement, Device

#: Scenario happening kinds for devices and the fields each takes (besides at, kind).
SCENARIO_KINDS: dict[str, tuple[str, ...]] = {
    "device": ("device", "event", "data", "room"),
    "device_dies": ("device",),
    "device_revives": ("device",),
    "device_battery": ("device", "level"),
    "device_goodbye": ("device",),
    "device_spoof": ("device", "event", "how", "room"),
}
SPOOFS = ("spoofed", "unsigned", "replay", "wrong_room", "stale", "unpaired")


def read_scenario_devices(top: Reader, ward: Any) -> DeviceConfig | None:
    """A scenario's ``devices:`` section (the site file's format; no discovery)."""
    if "devices" not in top:
        return None
    config = read_device_config(top.mapping("devices"), ward)
    return replace(config, discovery=None, mqtt=None)


def check_happening(event: Reader, kind: str, config: DeviceConfig | None) -> dict[str, Any]:
    """One device happening of a scenario's ``events`` (located errors); its args."""
    if config is None:
        raise event.error("kind", f"'{kind}' needs a devices: section")
    devices = {d.id: d for d in config.allow}
    device_id = event.str("device")
    if device_id not in devices:
        raise event.error("device", f"no device '{device_id}' under devices.allow")
    device = devices[device_id]
    args: dict[str, Any] = {"device": device_id}
    if kind in ("device", "device_spoof"):
        name = event.str("event", choices=ALL_EVENTS)
        if not device.accepts(name):
            raise event.error("event", f"a {device.kind.value} does not send '{name}'")
        args["event"] = name
        if "room" in event:
            args["room"] = event.str("room")
    if kind == "device":
        args["data"] = dict(event.mapping("data").data) if "data" in event else {}
        try:
            protocol.check_data(device.kind, args["event"], dict(args["data"]))
        except InputError as error:
            raise event.error("data", f"{error.field}: {error.message}") from None
    if kind == "device_spoof":
        args["how"] = event.str("how", choices=SPOOFS)
    if kind == "device_battery":
        args["level"] = event.number("level", minimum=0, maximum=1)
    return args


@dataclass
class _Simulated:
    device: Device
    key: bytes | None = None
    alive: bool = True
    battery: float = 1.0
    last: tuple[bytes, str] | None = None        # the last event sent (for a replay)


@dataclass
class DeviceDay:
    manager: DeviceManager
    simulation: Any
    devices: dict[str, _Simulated] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    @classmethod
    def attach(cls, simulation: Any, config: DeviceConfig) -> DeviceDay:
        """Devices into ``simulation`` (before ``run()``)."""
        clock = simulation.clock.now
        manager = DeviceManager(simulation.scenario.ward, str(simulation.db_path),
                                simulation.host.post, config=config, ward_clock=clock,
                                wall=clock)
        day = cls(manager=manager, simulation=simulation)
        simulation.host.subscribe(day._observe)
        start = simulation.now
        for entry in config.allow:
            day.devices[entry.id] = _Simulated(device=entry)
            simulation.schedule(start, lambda d=entry.id: day._pair(d))
        interval = config.heartbeat.interval
        for i, device_id in enumerate(day.devices):
            offset = interval * i / max(1, len(day.devices))      # staggered, like real ones
            simulation.schedule(start + offset, lambda d=device_id: day._beat(d))
        simulation.schedule(start, day._watch)
        return day

    # -- the simulated devices ---------------------------------------------------------
    def _pair(self, device_id: str) -> None:
        sim = self.devices[device_id]
        advert = Advertisement(device=sim.device, name=f"{device_id}._carefleet._tcp.local.",
                               service_type="_carefleet._tcp.local.", addresses=("127.0.0.1",),
                               port=0)
        self.manager.found(advert)
        body = protocol.claim_body(device=device_id, at=self.simulation.now)
        answer = self.manager.claim(protocol.canonical(body), None)
        if answer.status == "key":
            sim.key = answer.key

    def _send(self, device_id: str, kind: str, data: Mapping[str, Any] | None = None, *,
              room: str | None = None, key: bytes | None = None,
              at: float | None = None) -> Received:
        sim = self.devices[device_id]
        body = protocol.event_body(device=device_id, kind=kind, room=room, data=data,
                                   at=self.simulation.now if at is None else at)
        payload, signed = protocol.sign_event(body, key or sim.key or bytes(32))
        sim.last = (payload, signed)
        return self._receive(payload, signed)

    def _receive(self, payload: bytes, signed: str | None) -> Received:
        received = self.manager.receive(payload, signed, via="simulation")
        self.received.append(received)
        return received

    def _beat(self, device_id: str) -> None:
        sim = self.devices[device_id]
        if sim.alive and sim.key is not None:
            self._send(device_id, "heartbeat", {"battery": round(sim.battery, 3)})
        self.simulation.schedule(self.simulation.now + self.manager.config.heartbeat.interval,
                                 lambda: self._beat(device_id))

    def _watch(self) -> None:
        self.manager.tick()
        every = max(1.0, self.manager.config.heartbeat.interval / 2)
        if self.simulation.now + every <= self.simulation.scenario.end:
            self.simulation.schedule(self.simulation.now + every, self._watch)

    def happen(self, kind: str, args: Mapping[str, Any]) -> Received | None:
        """One scripted device happening (``kind`` in ``SCENARIO_KINDS``) now."""
        device_id = args["device"]
        sim = self.devices[device_id]
        if kind == "device":
            return self._send(device_id, args["event"], args.get("data"), room=args.get("room"))
        if kind == "device_dies":
            sim.alive = False
        elif kind == "device_revives":
            sim.alive = True
            return self._send(device_id, "heartbeat", {"battery": sim.battery})
        elif kind == "device_battery":
            sim.battery = float(args["level"])
            return self._send(device_id, "heartbeat", {"battery": sim.battery})
        elif kind == "device_goodbye":
            sim.alive = False
            return self._send(device_id, "goodbye")
        elif kind == "device_spoof":
            return self._spoof(device_id, args)
        return None

    def _spoof(self, device_id: str, args: Mapping[str, Any]) -> Received:
        """Someone pretends to be ``device_id`` (or replays what it sent)."""
        how, event, room = args["how"], args["event"], args.get("room")
        now = self.simulation.now
        if how == "replay" and self.devices[device_id].last is not None:
            return self._receive(*self.devices[device_id].last)          # type: ignore[misc]
        body = protocol.event_body(device=device_id if how != "unpaired" else "stranger-1",
                                   kind=event, at=now - 300 if how == "stale" else now,
                                   room=room)
        key = self.devices[device_id].key or bytes(32)
        if how == "wrong_room":
            rooms = [p for p in sorted(self.simulation.scenario.ward.places)
                     if p != self.devices[device_id].device.room]
            body["room"] = room or rooms[0]
        elif how in ("spoofed", "unpaired"):
            key = bytes(32)
        payload, signed = protocol.sign_event(body, key)
        return self._receive(payload, None if how == "unsigned" else signed)

    def _observe(self, change: Any) -> None:
        if change.kind == "alert":
            self.alerts[change.data["id"]] = change.data

    # -- the report ------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        from carefleet.orchestrator.alerts import stage_times
        listing = self.manager.listing()
        events = [e for e in self.manager.recent(500) if e.get("kind") != "heartbeat"]
        return {"events": events, "refusals": listing["refusals"], "posted": listing["posted"],
                "devices": {d["id"]: d.get("health") for d in listing["paired"]},
                "alerts": sorted(((a["key"], a["priority"], a["state"]) for a in
                                  self.alerts.values())),
                "alert_response": stage_times(self.alerts.values())}

    def close(self) -> None:
        self.manager.stop()
