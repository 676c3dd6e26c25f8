"""The ward's devices, live: pairing, verification, health and rules around one host.

``DeviceManager`` is the runtime part (threads, a store connection, the clocks); the
decisions are the sans-I/O parts it holds: ``Pairings``, ``Verifier``, ``HealthWatch``
and ``RuleBook``. Everything it decides reaches the core only as events posted to the
host (``post(event) -> Future``): rule outputs (``TaskSubmitted``, ``FallDetected``,
``DeviceEvent``), and ``DeviceEvent(kind="device_alert")`` for device health and for
refused events, each refusal reported to staff once (per reason, and per paired
device when it is about one). ``device_ok`` says a device alert's cause is gone.

Two clocks: the **wall clock** for what devices measure (the ±60 s freshness window,
heartbeat intervals, pairing windows) and the **ward clock** (the host's, which the
demo may run faster) for rules: night windows, cooldowns. One lock around it all: the
web server's threads, the discovery thread and the health ticker all come here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from carefleet.errors import CareFleetError, InputError
from carefleet.orchestrator.events import DeviceEvent, Event
from carefleet.devices import protocol
from carefleet.devices.config import DeviceConfig, default_rules
from carefleet.devices.model import (COMMON_EVENTS, HEALTH_ALERTS, Advertisement, Device,
                                     DeviceKind, HealthWatch)
from carefleet.devices.pairing import STORED, Claim, PairingState, Pairings, Step, StepType
from carefleet.devices.protocol import Accepted, Refused, Verifier
from carefleet.devices.rules import ALERT_EVENT, Decision, RuleBook
from carefleet.devices.store import DeviceStore

log = logging.getLogger(__name__)
#: The DeviceEvent kind that tells the core a device alert's cause is over.
OK_EVENT = "device_ok"
REFUSED_KEY = "device_refused"


@dataclass(frozen=True, slots=True)
class Received:
    """What one posted event came to: the verdict, the rules' decision (None if it was
    refused) and the host's futures for the events it produced."""

    verdict: Accepted | Refused
    decision: Decision | None
    futures: tuple[Future, ...] = ()


class DeviceManager:
    """One ward's devices, for ``carefleet serve`` (or a test) around its host."""

    def __init__(self, ward: Any, store_path: str, post: Callable[[Event], Future], *,
                 config: DeviceConfig = DeviceConfig(),
                 ward_clock: Callable[[], float] = time.time,
                 wall: Callable[[], float] = time.time) -> None:
        self.ward, self.config, self.post_event = ward, config, post
        self.ward_now, self.wall = ward_clock, wall
        self._lock = threading.RLock()
        self.rules = RuleBook(config.rules if config.rules is not None else default_rules(ward),
                              ward.timezone, source=config.rules_source)
        self.pairings = Pairings(config.allow, claim_window=config.claim_window,
                                 window=config.window)
        self.health = HealthWatch(config.heartbeat)
        self.residents = {r.id: r for r in config.residents}
        self.location: dict[str, str] = {}            # wearable id -> its beacon's room
        self.verifier = Verifier(self.pairings.key_of, set(ward.places), window=config.window,
                                 room_of=lambda device: self.location.get(device.id))
        self.store = DeviceStore(store_path)
        self.refusals: Counter[str] = Counter()
        self.refused_by_device: Counter[tuple[str, str]] = Counter()
        self._reported: set[tuple[str, ...]] = set()
        self.posted: Counter[str] = Counter()
        self.heartbeats = 0
        self.post_failures: list[str] = []
        self.events: deque[dict[str, Any]] = deque(maxlen=500)
        self.report_place = config.report_place or self._first_staff_place()
        now = wall()
        for record, key in self.store.load():
            try:
                flow = self.pairings.restore(record, key)
            except (CareFleetError, KeyError, ValueError) as error:
                log.warning("stored device %s not restored: %s", record.get("id"), error)
                continue
            if flow.state is PairingState.PAIRED:
                if key is None:      # its row does not open with this key file
                    log.warning("device %s: its key does not open; pair it again", flow.device.id)
                self.health.add(flow.device.id, now)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._discovery: Any = None
        self._mqtt: Any = None

    def _first_staff_place(self) -> str:
        places = list(self.ward.places.values())
        for place in places:
            if getattr(place.kind, "value", "") == "nurse_station":
                return place.id
        return places[0].id

    # == lifetime ==============================================================
    def start(self) -> None:
        """Browse for devices (if the config says where), tick health, join MQTT."""
        if self.config.discovery is not None:
            from carefleet.devices.discovery import DiscoveryThread
            self._discovery = DiscoveryThread(self.found, self.lost,
                                              interfaces=self.config.discovery or None)
            self._discovery.start()
        if self.config.mqtt is not None:
            from carefleet.devices.mqtt import MqttBridge
            self._mqtt = MqttBridge(self, self.config.mqtt)
            self._mqtt.start()
        thread = threading.Thread(target=self._tick_forever, name="device health", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick_forever(self) -> None:
        every = max(0.05, min(1.0, self.config.heartbeat.interval / 5))
        while not self._stop.wait(every):
            try:
                self.tick()
            except Exception:          # noqa: BLE001 - the ticker must outlive one bad tick
                log.exception("device health check failed")

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._discovery is not None:
            self._discovery.stop()
        if self._mqtt is not None:
            self._mqtt.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            self.store.close()

    # == device events ===========================================================
    def receive(self, payload: bytes, signed: str | None, *, via: str = "http") -> Received:
        """Verify one event body; an authentic one goes through the rules and their
        outputs are posted to the host; a refused one is counted (and reported once)."""
        with self._lock:
            now = self.wall()
            verdict = self.verifier.verify(payload, signed, now)
            if isinstance(verdict, Refused):
                futures = self._refused(verdict, via)
                return Received(verdict, None, futures)
            message = verdict.message
            device = message.device
            battery = message.data.get("battery")
            self.health.seen(device.id, now, battery=battery if isinstance(
                battery, (int, float)) and not isinstance(battery, bool) else None)
            if message.kind == "goodbye":
                self.health.goodbye(device.id, now)
            if device.kind is DeviceKind.WEARABLE and message.kind == "location":
                self.location[device.id] = message.room
            futures = list(self._check_health(now))
            decision = Decision()
            if message.kind not in COMMON_EVENTS:
                resident = self.residents.get(device.resident or "")
                decision = self.rules.evaluate(message.event(), device, self.ward_now(),
                                               resident=resident,
                                               health=self.health.health(device.id, now))
                futures.extend(self._post(event) for event in decision.outputs)
            if message.kind == "heartbeat" and not futures:
                self.heartbeats += 1               # counted, not logged: they would crowd out
                return Received(verdict, decision, ())    # the events staff look for
            self._log(at=now, device=device.id, kind=message.kind, room=message.room,
                      via=via, accepted=True, fired=list(decision.fired),
                      suppressed=[f"{r}:{why}" for r, why in decision.suppressed],
                      outputs=[_describe(e) for e in decision.outputs])
            return Received(verdict, decision, tuple(futures))

    def _refused(self, verdict: Refused, via: str) -> tuple[Future, ...]:
        reason = verdict.reason.value
        self.refusals[reason] += 1
        device_id = verdict.device or "unknown"
        self.refused_by_device[(device_id, reason)] += 1
        # Only a paired device's refusals are reported per device (there are few of them);
        # anyone can make up ids, so the rest are reported once per reason.
        mark = (reason, device_id) if verdict.room is not None else (reason,)
        report = mark not in self._reported
        self._log(at=self.wall(), device=device_id, kind=None, room=verdict.room, via=via,
                  accepted=False, refused=reason, detail=verdict.detail, reported=report)
        if not report:
            return ()
        self._reported.add(mark)
        params = {"device": device_id, "reason": reason, "detail": verdict.detail[:200]}
        return (self._post(DeviceEvent(
            device_id=device_id, kind=ALERT_EVENT, room=verdict.room or self.report_place,
            data={"key": REFUSED_KEY, "priority": "medium", "params": params})),)

    # == health ==================================================================
    def tick(self) -> list[Future]:
        """Check every device's heartbeats now (the ticker thread calls this)."""
        with self._lock:
            return self._check_health(self.wall())

    def _check_health(self, now: float) -> list[Future]:
        futures = []
        for change in self.health.check(now):
            paired = self.pairings.key_of(change.device_id)
            if paired is None:
                continue
            device = paired[0]
            room = self._room_of(device)
            before, after = HEALTH_ALERTS.get(change.before), HEALTH_ALERTS.get(change.after)
            if before is not None and change.after is not change.before:
                futures.append(self._post(DeviceEvent(
                    device_id=device.id, kind=OK_EVENT, room=room,
                    data={"resolves": [before], "health": change.after.value})))
            if after is not None:
                seen = self.health.liveness(device.id)
                params = {"device": device.id, "health": change.after.value,
                          "minutes": f"{(now - seen.last_seen) / 60:.0f}" if seen else "0"}
                if seen is not None and seen.battery is not None:
                    params["battery"] = f"{seen.battery * 100:.0f}"
                futures.append(self._post(DeviceEvent(
                    device_id=device.id, kind=ALERT_EVENT, room=room,
                    data={"key": after, "priority": "low", "params": params})))
            self._log(at=now, device=device.id, kind="health", room=room, via="watch",
                      accepted=True, health=change.after.value)
        return futures

    def _room_of(self, device: Device) -> str:
        if device.kind is DeviceKind.WEARABLE and device.id in self.location:
            return self.location[device.id]
        if device.room:
            return device.room
        resident = self.residents.get(device.resident or "")
        return resident.room if resident else self.report_place

    # == discovery ===============================================================
    def found(self, advert: Advertisement) -> Step:
        """A device advertised itself (from the discovery thread)."""
        with self._lock:
            step = self.pairings.discovered(advert, self.wall())
            self._after(step)
            return step

    def lost(self, device_id: str, name: str = "") -> Step | None:
        with self._lock:
            return self.pairings.vanished(device_id, self.wall())

    # == admins ==================================================================
    def pair(self, device_id: str, *, by: str, code: str | None = None,
             room: str | None = None, resident: str | None = None) -> Step:
        with self._lock:
            if room is not None and room not in self.ward.places:
                raise InputError(f"device {device_id}", f"unknown place '{room}'", field="room")
            if resident is not None and resident not in self.residents:
                raise InputError(f"device {device_id}", f"no resident '{resident}'",
                                 field="resident")
            step = self.pairings.pair(device_id, self.wall(), by=by, code=code, room=room,
                                      resident=resident)
            self._after(step)
            return step

    def reject(self, device_id: str, *, by: str) -> Step:
        with self._lock:
            step = self.pairings.reject(device_id, self.wall(), by=by)
            self._after(step)
            return step

    def unpair(self, device_id: str, *, by: str) -> Step:
        with self._lock:
            step = self.pairings.unpair(device_id, self.wall(), by=by)
            self.health.remove(device_id)
            self.verifier.nonces.forget(device_id)
            self.location.pop(device_id, None)
            self._after(step)
            return step

    def claim(self, payload: bytes, proof: str | None) -> Claim:
        """A device fetches its key (``InputError`` for a body that is no claim)."""
        body = protocol.check_claim(payload)
        with self._lock:
            answer = self.pairings.claim(body, proof, self.wall())
            if answer.step is not None:
                self._after(answer.step)
            elif answer.status == "key":
                self._persist(answer.device_id)
            return answer

    def _after(self, step: Step) -> None:
        if step.type is StepType.CREATE_ENTRY:
            self.health.add(step.device_id, self.wall())
        self._persist(step.device_id)

    def _persist(self, device_id: str) -> None:
        flow = self.pairings.flows.get(device_id)
        if flow is not None and flow.state in STORED:
            self.store.save(flow.record(), flow.key)

    # == posting ===================================================================
    def _post(self, event: Event) -> Future:
        kind = type(event).__name__ if not isinstance(event, DeviceEvent) else \
            f"DeviceEvent:{event.kind}"
        self.posted[kind] += 1
        future = self.post_event(event)

        def done(f: Future) -> None:
            error = f.exception()
            if error is not None:
                self.post_failures.append(f"{kind}: {error}")
                del self.post_failures[:-100]
                log.warning("the host refused %s: %s", kind, error)
        future.add_done_callback(done)
        return future

    def _log(self, **entry: Any) -> None:
        self.events.append(entry)

    # == reading ===================================================================
    def listing(self) -> dict[str, Any]:
        """Devices by pairing state, with health for the paired ones."""
        with self._lock:
            now = self.wall()
            out: dict[str, Any] = {"paired": [], "pending": [], "rejected": [], "unpaired": []}
            for flow in self.pairings.in_state(*PairingState):
                view = flow.view()
                if flow.state is PairingState.PAIRED:
                    seen = self.health.liveness(flow.device.id)
                    health = self.health.health(flow.device.id, now)
                    view.update(health=health.value if health else None,
                                last_seen=seen.last_seen if seen else None,
                                battery=seen.battery if seen else None,
                                location=self.location.get(flow.device.id),
                                refused=sum(n for (d, _), n in self.refused_by_device.items()
                                            if d == flow.device.id))
                    if flow.key is None:
                        view["health"] = "needs_pairing"
                bucket = out.get(flow.state.value)
                if bucket is not None:
                    bucket.append(view)
            out["refusals"] = dict(self.refusals)
            out["posted"] = dict(self.posted)
            out["heartbeats"] = self.heartbeats
            out["heartbeat"] = {"interval": self.config.heartbeat.interval,
                                "missed": self.config.heartbeat.missed,
                                "battery_low": self.config.heartbeat.battery_low}
            out["discovery"] = list(self.config.discovery) if self.config.discovery \
                else ("all" if self.config.discovery == () else None)
            return out

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)[-limit:]


def _describe(event: Event) -> str:
    if isinstance(event, DeviceEvent):
        if event.kind == ALERT_EVENT:
            return f"alert:{event.data.get('key')}:{event.data.get('priority')}"
        return f"device_event:{event.kind}"
    request = getattr(event, "request", None)
    if request is not None:
        return f"task:{request.get('kind')}:{request.get('place') or request.get('room', '')}"
    return type(event).__name__
