"""The device event protocol, version 1: signed JSON events, and their verifier.

An event is one JSON object (UTF-8, at most ``MAX_BODY`` bytes)::

    {"v": 1, "device": "bed-101", "kind": "bed_exit", "room": "room_101",
     "at": 1796155200.25, "nonce": "q3V0cHc3Qm9lZ2Fk", "data": {}}

- ``v``: the protocol version (1); ``device``: the device id it was paired under;
- ``kind``: one of the events its kind may send (``model.EVENTS``), or ``heartbeat``
  (``data.battery`` 0..1) or ``goodbye``;
- ``room``: the ward place it is about. A fixed device may only speak for its own room
  (or send ``null``: its room); a wearable names the room its beacon places it in;
- ``at``: when it happened, epoch seconds; refused outside ``WINDOW`` (±60 s) of the
  ward's clock, so keep devices on NTP;
- ``nonce``: 8-64 characters ``[A-Za-z0-9_-]``, new for every event: a repeat within the
  window is a replay and is refused;
- ``data``: the event's fields (``request`` for a call button, ``heart_rate`` and
  ``spo2`` for vitals ...), flat: names to text, numbers, true/false or null.

It is signed with the device's key (32 bytes, issued at pairing) as HMAC-SHA256 over the
*canonical* body (keys sorted, no spaces, UTF-8: ``canonical()``), sent in the header
``X-CareFleet-Signature: v1=<64 hex digits>`` (over HTTP: ``POST /api/devices/events``;
over MQTT the same object wrapped as ``{"body": ..., "signature": ...}``).

``Verifier.verify`` returns ``Accepted`` (the core's ``DeviceEvent``) or ``Refused`` with
a ``Refusal`` reason, in this order: malformed, unsigned, unpaired, spoofed (a valid id
with another key), stale, replay, wrong room, then the event's own fields. A refused
event changes nothing; only an authentic one records its nonce.

Pairing by code (``claim_proof`` / ``unwrap_key``): the device proves it knows the code
shown on it with an HMAC keyed by ``code_key`` (scrypt of the code and its id), and
the service sends the new key XOR-ed with a pad only that code can make. Time is always
an argument here; nothing reads a clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from carefleet.errors import InputError
from carefleet.orchestrator.events import DeviceEvent
from carefleet.devices.model import (CALL_REQUESTS, DEVICE_ID, Device, DeviceKind, LABEL,
                                     check_device_id)

VERSION = 1
SIGNATURE_HEADER = "X-CareFleet-Signature"
PROOF_HEADER = "X-CareFleet-Proof"
WINDOW = 60.0
MAX_BODY = 16 * 1024
MAX_DATA_FIELDS = 24
MAX_NONCES = 4096            # per device per window: more is a flood, refused
KEY_BYTES = 32
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")
_FIELDS = ("v", "device", "kind", "room", "at", "nonce", "data")


class Refusal(str, Enum):
    """Why an event was refused (also the ``code`` of the HTTP error)."""

    MALFORMED = "malformed"
    """Not a version-1 event: bad JSON, a missing or unknown field, bad values."""
    UNSIGNED = "unsigned"
    """No ``X-CareFleet-Signature: v1=...`` header."""
    UNPAIRED = "unpaired"
    """No paired device has this id (never paired, rejected, or unpaired)."""
    SPOOFED = "spoofed"
    """The signature does not match the key the device was paired with."""
    STALE = "stale"
    """``at`` is more than ``WINDOW`` seconds from the ward's clock."""
    REPLAY = "replay"
    """The nonce was already used within the window."""
    WRONG_ROOM = "wrong_room"
    """A fixed device spoke for another room, or a wearable named no ward room."""
    WRONG_KIND = "wrong_kind"
    """The device's kind may not send this event (a door contact reporting a fall)."""
    FLOOD = "flood"
    """More than ``MAX_NONCES`` events from one device within the window."""

    @property
    def status(self) -> int:
        """The HTTP status the event endpoint answers with."""
        return _STATUS[self]


_STATUS = {Refusal.MALFORMED: 400, Refusal.UNSIGNED: 401, Refusal.UNPAIRED: 403,
           Refusal.SPOOFED: 401, Refusal.STALE: 401, Refusal.REPLAY: 409,
           Refusal.WRONG_ROOM: 403, Refusal.WRONG_KIND: 422, Refusal.FLOOD: 429}
#: Refusals that only the device's key holder can cause: reported per device. The
#: others (anyone can send garbage under any id) are reported once per reason.
KEYED_REFUSALS = frozenset({Refusal.STALE, Refusal.REPLAY, Refusal.WRONG_ROOM,
                            Refusal.WRONG_KIND, Refusal.FLOOD})


# == encoding ================================================================
def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def signature(payload: bytes, key: bytes) -> str:
    """``v1=<hex HMAC-SHA256>`` of ``payload``."""
    return "v1=" + hmac.new(key, payload, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


def new_key() -> bytes:
    """A device key: 32 random bytes."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError, TypeError):
        raise InputError("device key", "not base64url") from None
    if len(key) != KEY_BYTES:
        raise InputError("device key", f"expected {KEY_BYTES} bytes, got {len(key)}")
    return key


def event_body(*, device: str, kind: str, at: float, room: str | None = None,
               data: Mapping[str, Any] | None = None, nonce: str | None = None) -> dict[str, Any]:
    """A version-1 event object (what a device sends, before signing)."""
    return {"v": VERSION, "device": device, "kind": kind, "room": room, "at": at,
            "nonce": nonce or new_nonce(), "data": dict(data or {})}


def sign_event(body: Mapping[str, Any], key: bytes) -> tuple[bytes, str]:
    """``(payload, signature header value)`` for an event object."""
    payload = canonical(body)
    return payload, signature(payload, key)


# == pairing codes ===========================================================
def new_pairing_code() -> str:
    """Eight digits a device shows (``1234-5678``) for an admin to type in."""
    digits = f"{secrets.randbelow(10 ** 8):08d}"
    return f"{digits[:4]}-{digits[4:]}"


def normal_code(code: str) -> str:
    """A typed pairing code without spaces and dashes; ``InputError`` if it is no code."""
    text = re.sub(r"[\s-]", "", str(code))
    if not re.fullmatch(r"\d{6,12}", text):
        raise InputError("pairing code", "expected the 8 digits the device shows",
                         field="code")
    return text


def code_key(code: str, device_id: str) -> bytes:
    """A key from a pairing code: scrypt, salted with the device id, so the code (short,
    typed by a person) is costly to guess even from a recorded claim."""
    return hashlib.scrypt(normal_code(code).encode("ascii"),
                          salt=b"carefleet-pairing-v1:" + device_id.encode("utf-8"),
                          n=2 ** 14, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024)


def claim_body(*, device: str, at: float, nonce: str | None = None) -> dict[str, Any]:
    """What a device posts to ``/api/devices/claim`` to fetch its key once paired."""
    return {"v": VERSION, "device": device, "at": at, "nonce": nonce or new_nonce()}


def claim_proof(body: Mapping[str, Any], key: bytes) -> str:
    """``v1=<hex>``: the claim signed with ``code_key(code, id)``."""
    return signature(canonical(body), key)


def _pad(key: bytes, nonce: str) -> bytes:
    return hmac.new(key, b"carefleet-wrap-v1:" + nonce.encode("ascii"), hashlib.sha256).digest()


def wrap_key(device_key: bytes, code_secret: bytes, nonce: str) -> str:
    """The device key XOR a pad from the code and the claim's nonce (base64url)."""
    return encode_key(bytes(a ^ b for a, b in zip(device_key, _pad(code_secret, nonce))))


def unwrap_key(wrapped: str, code_secret: bytes, nonce: str) -> bytes:
    return bytes(a ^ b for a, b in zip(decode_key(wrapped), _pad(code_secret, nonce)))


def check_claim(payload: bytes) -> dict[str, Any]:
    """A claim body parsed and checked (``InputError`` if it is not one)."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InputError("claim", "not JSON") from None
    if not isinstance(body, dict) or set(body) != {"v", "device", "at", "nonce"}:
        raise InputError("claim", "expected exactly v, device, at, nonce")
    if body["v"] != VERSION:
        raise InputError("claim", f"unsupported version {body['v']!r}", field="v")
    check_device_id(body["device"], "claim")
    _finite(body["at"], "claim", "at")
    if not isinstance(body["nonce"], str) or not _NONCE.fullmatch(body["nonce"]):
        raise InputError("claim", "8-64 characters [A-Za-z0-9_-]", field="nonce")
    return body


def proof_matches(body: Mapping[str, Any], proof: str | None, secret: bytes) -> bool:
    if not isinstance(proof, str) or not _SIGNATURE.fullmatch(proof):
        return False
    return hmac.compare_digest(proof, claim_proof(body, secret))


# == verification ============================================================
@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """An authentic event, as the device sent it (``room`` resolved)."""

    device: Device
    kind: str
    room: str
    at: float
    nonce: str
    data: dict[str, Any]

    def event(self) -> DeviceEvent:
        """The core's event for it."""
        return DeviceEvent(device_id=self.device.id, kind=self.kind, room=self.room,
                           data=dict(self.data))


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    message: Message

    @property
    def event(self) -> DeviceEvent:
        return self.message.event()


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A refusal: ``device`` is the id the body claimed (None if it had none)."""

    reason: Refusal
    detail: str
    device: str | None = None
    room: str | None = None       # the paired device's own room, when known


Verdict = Accepted | Refused
KeyLookup = Callable[[str], "tuple[Device, bytes] | None"]


@dataclass
class NonceCache:
    """Nonces seen per device within the window (older ones are forgotten: their
    timestamps would be refused as stale anyway)."""

    window: float = WINDOW
    limit: int = MAX_NONCES
    _seen: dict[str, OrderedDict[str, float]] = field(default_factory=dict)

    def _prune(self, device: str, now: float) -> OrderedDict[str, float]:
        seen = self._seen.setdefault(device, OrderedDict())
        horizon = now - 2 * self.window
        while seen and next(iter(seen.values())) < horizon:
            seen.popitem(last=False)
        return seen

    def check(self, device: str, nonce: str, now: float) -> Refusal | None:
        """None (and remember it) for a new nonce; else why it is refused."""
        seen = self._prune(device, now)
        if nonce in seen:
            return Refusal.REPLAY
        if len(seen) >= self.limit:
            return Refusal.FLOOD
        seen[nonce] = now
        return None

    def forget(self, device: str) -> None:
        self._seen.pop(device, None)


class Verifier:
    """Checks event bodies against the paired devices' keys (sans-I/O).

    ``keys(device_id)`` returns the paired ``(Device, key)`` or None; ``places`` are
    the ward's place ids; ``room_of(device)`` is where a wearable is now (its last
    beacon room), used when a wearable's event names no room.
    """

    def __init__(self, keys: KeyLookup, places: set[str] | frozenset[str], *,
                 window: float = WINDOW, room_of: Callable[[Device], str | None] | None = None,
                 nonces: NonceCache | None = None) -> None:
        self.keys, self.places, self.window = keys, frozenset(places), window
        self.room_of = room_of or (lambda device: device.room)
        self.nonces = nonces or NonceCache(window=window)

    def verify(self, payload: bytes, signed: str | None, now: float) -> Verdict:
        """The verdict on one event body and its signature header, at ``now``."""
        try:
            body = _parse(payload)
        except InputError as error:
            return Refused(reason=Refusal.MALFORMED, detail=error.message,
                           device=_claimed_id(payload))
        device_id = body["device"]
        if not isinstance(signed, str) or not _SIGNATURE.fullmatch(signed.strip()):
            return Refused(reason=Refusal.UNSIGNED, device=device_id,
                           detail=f"no '{SIGNATURE_HEADER}: v1=<hex>' header")
        paired = self.keys(device_id)
        if paired is None:
            return Refused(reason=Refusal.UNPAIRED, device=device_id,
                           detail=f"no paired device '{device_id}'")
        device, key = paired
        if not hmac.compare_digest(signed.strip(), signature(canonical(body), key)):
            return Refused(reason=Refusal.SPOOFED, device=device_id, room=device.room,
                           detail="the signature does not match the device's key")

        def refuse(reason: Refusal, detail: str) -> Refused:
            return Refused(reason=reason, device=device_id, room=device.room, detail=detail)
        if abs(body["at"] - now) > self.window:
            return refuse(Refusal.STALE, f"sent at {body['at']:.0f}, {body['at'] - now:+.0f} s "
                          f"from the ward's clock (allowed: ±{self.window:g} s)")
        if not device.accepts(body["kind"]):
            return refuse(Refusal.WRONG_KIND, f"a {device.kind.value} does not send "
                          f"'{body['kind']}'")
        room = body["room"]
        if device.room_bound:
            if room is not None and room != device.room:
                return refuse(Refusal.WRONG_ROOM, f"'{device_id}' is paired in {device.room}, "
                              f"not in {room}")
            room = device.room
        elif room is None:
            room = self.room_of(device) or device.room
        if room not in self.places:
            return refuse(Refusal.WRONG_ROOM, f"no place '{room}' in the ward")
        try:
            data = check_data(device.kind, body["kind"], body["data"])
        except InputError as error:
            return refuse(Refusal.MALFORMED, f"{error.field}: {error.message}"
                          if error.field else error.message)
        replayed = self.nonces.check(device_id, body["nonce"], now)
        if replayed is not None:
            return refuse(replayed, "this nonce was used already" if replayed is Refusal.REPLAY
                          else f"more than {self.nonces.limit} events within the window")
        return Accepted(message=Message(device=device, kind=body["kind"], room=room,
                                        at=float(body["at"]), nonce=body["nonce"], data=data))


def _claimed_id(payload: bytes) -> str | None:
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError, TypeError):
        return None
    device = body.get("device") if isinstance(body, dict) else None
    return device if isinstance(device, str) and DEVICE_ID.fullmatch(device) else None


def _finite(value: Any, origin: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(origin, "expected a finite number", field=name)
    return float(value)


def _parse(payload: bytes) -> dict[str, Any]:
    """A version-1 event body, shape-checked (not yet trusted)."""
    if not isinstance(payload, (bytes, bytearray)) or len(payload) > MAX_BODY:
        raise InputError("event", f"at most {MAX_BODY} bytes")
    try:
        body = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InputError("event", "not JSON") from None
    if not isinstance(body, dict):
        raise InputError("event", "expected a JSON object")
    missing = [name for name in _FIELDS if name not in body]
    unknown = sorted(set(body) - set(_FIELDS))
    if missing or unknown:
        raise InputError("event", "missing " + ", ".join(missing) if missing
                         else "unknown field " + ", ".join(unknown))
    if body["v"] != VERSION or isinstance(body["v"], bool):
        raise InputError("event", f"unsupported version {body['v']!r} (this ward speaks "
                         f"{VERSION})", field="v")
    check_device_id(body["device"], "event")
    if not isinstance(body["kind"], str) or not LABEL.fullmatch(body["kind"]):
        raise InputError("event", "expected an event name", field="kind")
    if body["room"] is not None and (not isinstance(body["room"], str)
                                     or not 0 < len(body["room"]) <= 80):
        raise InputError("event", "expected a place id or null", field="room")
    body["at"] = _finite(body["at"], "event", "at")
    if not isinstance(body["nonce"], str) or not _NONCE.fullmatch(body["nonce"]):
        raise InputError("event", "8-64 characters [A-Za-z0-9_-]", field="nonce")
    if not isinstance(body["data"], dict):
        raise InputError("event", "expected an object", field="data")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_data(kind: DeviceKind, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's ``data``, checked for its event (``InputError`` naming the field)."""
    if len(data) > MAX_DATA_FIELDS:
        raise InputError("event", f"at most {MAX_DATA_FIELDS} fields", field="data")
    for name, value in data.items():
        if not LABEL.fullmatch(name):
            raise InputError("event", "field names are lower-case letters, digits and _",
                             field=f"data.{name}")
        if isinstance(value, str):
            if len(value) > 200:
                raise InputError("event", "at most 200 characters", field=f"data.{name}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError("event", "not a finite number", field=f"data.{name}")
        elif not (value is None or isinstance(value, (bool, int, float))):
            raise InputError("event", "expected text, a number, true/false or null",
                             field=f"data.{name}")

    def number(name: str, low: float, high: float, required: bool = False) -> None:
        value = data.get(name)
        if value is None:
            if required:
                raise InputError("event", "missing", field=f"data.{name}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not low <= value <= high:
            raise InputError("event", f"expected a number from {low:g} to {high:g}",
                             field=f"data.{name}")
    number("battery", 0.0, 1.0)
    if event == "call_button":
        data = {"request": "help", **data}
        if data["request"] not in CALL_REQUESTS:
            raise InputError("event", f"one of: {', '.join(CALL_REQUESTS)}",
                             field="data.request")
    elif event == "vitals":
        if "heart_rate" not in data and "spo2" not in data:
            raise InputError("event", "vitals need heart_rate or spo2", field="data")
        number("heart_rate", 0, 300)
        number("spo2", 0, 100)
    elif event == "environment":
        number("temperature", -40, 80)
        number("humidity", 0, 100)
        number("co2", 0, 100_000)
    return data
