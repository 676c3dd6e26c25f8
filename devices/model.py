"""What a ward device is: its kind, where it is, what it may report, and how healthy it is.

Everything here is a frozen, slotted, keyword-only dataclass that validates itself on
construction (like h11's events), so a bad advertisement, allow-list entry or stored
row is refused at the boundary with one ``InputError`` naming the device and the field.
Nothing here does I/O or reads a clock: health is computed from ``now`` passed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from carefleet.errors import InputError

#: Device ids: the identity a device signs with (with its key), never its address.
#: No ``:`` so a device id can never pose as ``staff:x`` or ``robot:x`` in the audit log.
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Labels staff give devices in the site file (``exit`` for an exit door's contact).
LABEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: The device protocol versions this release speaks (TXT ``api``, event ``v``).
API_VERSIONS = (1,)
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


class DeviceKind(str, Enum):
    """What a device is; decides which events it may send and whether it has a room."""

    BED_EXIT = "bed_exit"
    """A bed or chair pressure mat: says when a resident gets up (``bed_exit``) and back
    (``bed_return``). Fixed in one room."""
    CALL_BUTTON = "call_button"
    """A bedside or bathroom call button (``call_button`` with ``data.request``: help,
    water, toilet, meal). Fixed in one room."""
    WEARABLE = "wearable"
    """A wristband or pendant worn by one resident: fall alarm (``fall``), SOS button
    (``sos``), location by room beacon (``location``), heart rate and SpO2
    (``vitals``). Belongs to a resident; its room is wherever its beacon says."""
    DOOR_CONTACT = "door_contact"
    """A reed contact on a door (``door_open`` / ``door_closed``); staff label exit
    doors ``exit``. Fixed at one place."""
    ROOM_CAMERA = "room_camera"
    """A room camera with a stream URL (the fall core watches it); reports
    ``camera_down`` / ``camera_up`` and ``motion``. Fixed in one room."""
    ENVIRONMENT = "environment"
    """A room climate sensor (``environment`` with temperature, humidity, CO2)."""


#: Events every device may send besides its own: ``heartbeat`` (with ``battery`` 0..1)
#: keeps its health ``ok``; ``goodbye`` says it is going away on purpose.
COMMON_EVENTS = ("heartbeat", "goodbye")
EVENTS: Mapping[DeviceKind, tuple[str, ...]] = MappingProxyType({
    DeviceKind.BED_EXIT: ("bed_exit", "bed_return"),
    DeviceKind.CALL_BUTTON: ("call_button",),
    DeviceKind.WEARABLE: ("fall", "sos", "location", "vitals"),
    DeviceKind.DOOR_CONTACT: ("door_open", "door_closed"),
    DeviceKind.ROOM_CAMERA: ("camera_down", "camera_up", "motion"),
    DeviceKind.ENVIRONMENT: ("environment",),
})
"""Device kind -> the events it may report (besides ``COMMON_EVENTS``)."""
ALL_EVENTS = tuple(sorted({e for events in EVENTS.values() for e in events} | set(COMMON_EVENTS)))
CALL_REQUESTS = ("help", "water", "toilet", "meal")
VITALS = ("heart_rate", "spo2")


class Health(str, Enum):
    """A paired device's health, from its heartbeats (``health_of``)."""

    OK = "ok"
    """Heard from within its heartbeat interval (plus grace), battery fine."""
    LATE = "late"
    """A heartbeat is overdue, but fewer than ``missed`` of them: not alerted yet."""
    SILENT = "silent"
    """``missed`` heartbeats in a row are missing: staff get a low-priority alert."""
    BATTERY_LOW = "battery_low"
    """Heard from, but its last battery reading is at or below the threshold."""
    GONE = "gone"
    """It said goodbye (switched off, removed): staff get a low-priority alert."""


def check_device_id(value: Any, origin: str = "device") -> str:
    """A device id (``bed-101``), or ``InputError``."""
    if not isinstance(value, str) or not DEVICE_ID.fullmatch(value):
        raise InputError(origin, "a device id is 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit", field="id")
    return value


def _text(origin: str, name: str, value: Any, limit: int = 80) -> None:
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise InputError(origin, f"expected printable text of at most {limit} characters",
                         field=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """A vital sign's normal range for one resident, inclusive."""

    low: float
    high: float

    def __post_init__(self) -> None:
        for value in (self.low, self.high):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise InputError("limits", f"{value!r} is not a finite number")
        if self.low >= self.high:
            raise InputError("limits", f"low {self.low:g} must be below high {self.high:g}")

    def outside(self, value: float) -> bool:
        return not self.low <= value <= self.high


DEFAULT_HEART_RATE = Limits(low=45.0, high=120.0)
DEFAULT_SPO2 = Limits(low=90.0, high=100.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resident:
    """A resident who wears a device: their room and their vital-sign limits (set by
    their nurse; the defaults are for a resting adult, not a diagnosis)."""

    id: str
    room: str
    name: str = ""
    heart_rate: Limits = DEFAULT_HEART_RATE
    spo2: Limits = DEFAULT_SPO2

    def __post_init__(self) -> None:
        check_device_id(self.id, f"resident {self.id!r}")
        if not isinstance(self.room, str) or not self.room.strip():
            raise InputError(f"resident {self.id}", "must be given", field="room")
        _text(f"resident {self.id}", "name", self.name)

    def outside_limits(self, data: Mapping[str, Any]) -> dict[str, float]:
        """The vitals in ``data`` outside this resident's limits, by name."""
        found = {}
        for name in VITALS:
            value = data.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and getattr(self, name).outside(float(value)):
                found[name] = float(value)
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One ward device as the ward knows it once paired (or proposes it, once seen).

    A wearable belongs to a ``resident`` (its ``room`` is the resident's own room, the
    default for its events until a beacon says otherwise); every other kind is fixed
    in its ``room`` (a ward place id) and an event from it for another room is refused.
    Only a proposal may lack the room of a fixed device; it is given when it is paired.
    """

    id: str
    kind: DeviceKind
    room: str | None = None
    resident: str | None = None
    model: str = ""
    firmware: str = ""
    labels: frozenset[str] = frozenset()
    stream_url: str | None = None
    api: int = 1

    def __post_init__(self) -> None:
        check_device_id(self.id)
        origin = f"device {self.id}"
        if not isinstance(self.kind, DeviceKind):
            try:
                object.__setattr__(self, "kind", DeviceKind(self.kind))
            except ValueError:
                raise InputError(origin, f"unknown kind {self.kind!r} (one of: "
                                 f"{', '.join(k.value for k in DeviceKind)})",
                                 field="kind") from None
        for name in ("room", "resident"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InputError(origin, "must not be empty", field=name)
        if self.kind is DeviceKind.WEARABLE:
            if self.resident is None and self.room is None:
                raise InputError(origin, "a wearable needs its resident (or a room)",
                                 field="resident")
        else:
            # A fixed device may be *proposed* without a room (an RTSP camera found on
            # the network says none); pairing it needs one (``Pairings`` checks).
            if self.resident is not None:
                raise InputError(origin, "only a wearable belongs to a resident",
                                 field="resident")
        _text(origin, "model", self.model)
        _text(origin, "firmware", self.firmware, 40)
        labels = frozenset(self.labels)
        for label in labels:
            if not isinstance(label, str) or not LABEL.fullmatch(label):
                raise InputError(origin, f"label {label!r} is not lower-case letters, digits "
                                 "and _", field="labels")
        object.__setattr__(self, "labels", labels)
        if self.stream_url is not None:
            if self.kind is not DeviceKind.ROOM_CAMERA:
                raise InputError(origin, "only a room camera has a stream URL",
                                 field="stream_url")
            scheme, sep, rest = str(self.stream_url).partition("://")
            if not sep or scheme.lower() not in STREAM_SCHEMES or not rest:
                raise InputError(origin, f"stream URL must be {', '.join(STREAM_SCHEMES)}://...",
                                 field="stream_url")
        if self.api not in API_VERSIONS:
            raise InputError(origin, f"speaks device protocol {self.api!r}; this release "
                             f"speaks {', '.join(map(str, API_VERSIONS))}", field="api")

    @property
    def room_bound(self) -> bool:
        """Fixed in one place (everything but a wearable)."""
        return self.kind is not DeviceKind.WEARABLE

    def accepts(self, event: str) -> bool:
        """Whether this kind of device may report ``event``."""
        return event in COMMON_EVENTS or event in EVENTS[self.kind]

    def record(self) -> dict[str, Any]:
        """Plain data for the API and the store (no secrets here: there are none)."""
        return {"id": self.id, "kind": self.kind.value, "room": self.room,
                "resident": self.resident, "model": self.model, "firmware": self.firmware,
                "labels": sorted(self.labels), "stream_url": self.stream_url, "api": self.api}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Device:
        return cls(id=record["id"], kind=record["kind"], room=record.get("room"),
                   resident=record.get("resident"), model=record.get("model") or "",
                   firmware=record.get("firmware") or "",
                   labels=frozenset(record.get("labels") or ()),
                   stream_url=record.get("stream_url"), api=int(record.get("api") or 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Advertisement:
    """What a device says about itself on the network (zeroconf TXT, SRV, A records).

    Only a *proposal*: nothing in it is trusted until the device is paired, and the
    address is where it was seen, never who it is.
    """

    device: Device
    name: str                       # the zeroconf instance name
    service_type: str
    addresses: tuple[str, ...] = ()
    port: int = 0

    def record(self) -> dict[str, Any]:
        return {**self.device.record(), "name": self.name, "service_type": self.service_type,
                "addresses": list(self.addresses), "port": self.port}


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """How heartbeats become health: a device should beat every ``interval`` seconds;
    ``grace`` more seconds are allowed for network delay; ``missed`` beats in a row
    missing make it ``silent``; a battery at or under ``battery_low`` (0..1) is low."""

    interval: float = 30.0
    grace: float = 5.0
    missed: int = 3
    battery_low: float = 0.15

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise InputError("heartbeat", "interval must be a positive time", field="interval")
        if not (math.isfinite(self.grace) and self.grace >= 0):
            raise InputError("heartbeat", "grace must be 0 or more seconds", field="grace")
        if isinstance(self.missed, bool) or not isinstance(self.missed, int) or self.missed < 1:
            raise InputError("heartbeat", "missed must be a whole number of at least 1",
                             field="missed")
        if not 0.0 <= self.battery_low < 1.0:
            raise InputError("heartbeat", "battery_low is a fraction from 0 to 1",
                             field="battery_low")

    @property
    def silent_after(self) -> float:
        """Seconds without a word after which a device is ``silent``."""
        return self.missed * self.interval + self.grace


@dataclass(frozen=True, slots=True, kw_only=True)
class Liveness:
    """What the ward last heard from a device: when, its battery, whether it left."""

    last_seen: float
    battery: float | None = None
    goodbye: bool = False


def health_of(seen: Liveness, now: float, policy: HealthPolicy = HealthPolicy()) -> Health:
    """The device's health at ``now`` (pure: tests pass ``now + 90.0``)."""
    if seen.goodbye:
        return Health.GONE
    quiet = now - seen.last_seen
    if quiet >= policy.silent_after:
        return Health.SILENT
    if seen.battery is not None and seen.battery <= policy.battery_low:
        return Health.BATTERY_LOW
    if quiet > policy.interval + policy.grace:
        return Health.LATE
    return Health.OK


#: Healths staff are told about (low priority), and the alert key of each.
HEALTH_ALERTS: Mapping[Health, str] = MappingProxyType({
    Health.SILENT: "device_silent", Health.GONE: "device_goodbye",
    Health.BATTERY_LOW: "device_battery_low"})


@dataclass(slots=True)
class _Watched:
    liveness: Liveness
    health: Health


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthChange:
    """A device's health moved from ``before`` to ``after`` at ``at``."""

    device_id: str
    before: Health
    after: Health
    at: float


@dataclass
class HealthWatch:
    """Every paired device's liveness; ``check(now)`` says whose health changed.

    Sans-I/O: the runtime calls ``seen`` for each verified heartbeat (any verified
    event counts as a sign of life), ``goodbye`` for a goodbye, and ``check`` now and
    then with its clock's ``now``.
    """

    policy: HealthPolicy = field(default_factory=HealthPolicy)
    _devices: dict[str, _Watched] = field(default_factory=dict)

    def add(self, device_id: str, now: float) -> None:
        """Start watching a newly paired device (as if it had just spoken)."""
        if device_id not in self._devices:
            self._devices[device_id] = _Watched(Liveness(last_seen=now), Health.OK)

    def remove(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def seen(self, device_id: str, now: float, battery: float | None = None) -> None:
        watched = self._devices.get(device_id)
        if watched is None:
            return
        old = watched.liveness
        watched.liveness = Liveness(last_seen=max(now, old.last_seen),
                                    battery=old.battery if battery is None else battery)

    def goodbye(self, device_id: str, now: float) -> None:
        watched = self._devices.get(device_id)
        if watched is not None:
            watched.liveness = Liveness(last_seen=now, battery=watched.liveness.battery,
                                        goodbye=True)

    def health(self, device_id: str, now: float) -> Health | None:
        watched = self._devices.get(device_id)
        return None if watched is None else health_of(watched.liveness, now, self.policy)

    def liveness(self, device_id: str) -> Liveness | None:
        watched = self._devices.get(device_id)
        return None if watched is None else watched.liveness

    def check(self, now: float) -> list[HealthChange]:
        """Health changes since the last check, in device id order."""
        changes = []
        for device_id in sorted(self._devices):
            watched = self._devices[device_id]
            health = health_of(watched.liveness, now, self.policy)
            if health is not watched.health:
                changes.append(HealthChange(device_id=device_id, before=watched.health,
                                            after=health, at=now))
                watched.health = health
        return changes

    def next_check(self) -> float | None:
        """When the next health change can happen at the earliest (for a runtime that
        sleeps until then rather than polling)."""
        times = []
        for watched in self._devices.values():
            seen = watched.liveness
            if seen.goodbye:
                continue
            late = seen.last_seen + self.policy.interval + self.policy.grace
            silent = seen.last_seen + self.policy.silent_after
            times.extend(t for t in (late, silent) if t > seen.last_seen)
        return min(times) if times else None
