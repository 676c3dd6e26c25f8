"""Pairing: how a device seen on the network becomes one the ward trusts (sans-I/O).

Like Home Assistant's config flows (``esphome/config_flow.py``: zeroconf -> unique id /
abort if known -> ``discovery_confirm`` -> ``encryption_key`` -> ``create_entry``), each
step returns a ``Step`` (``FORM``: waiting for someone, ``ABORT``: nothing to do,
``CREATE_ENTRY``: paired, with the device's new key). One ``transitions`` machine for
all flows::

    discovered --propose--> pending --confirm--> paired --unpair--> unpaired
                               |  \\--reject--> rejected --unpair--> unpaired
                               \\--vanish--> discovered (and the flow is dropped)
    unpaired --propose--> pending

Two ways in, as the issue asks:

- **allow-list** (``allow`` from the site file): a device whose advertisement matches
  its entry (kind, room) is paired as soon as it is seen, with the entry's details
  (not the advertisement's). Its key waits for the first claim within
  ``claim_window`` (trust on first use: install allow-listed devices yourself);
- **pairing code**: a device not on the list waits in ``pending`` until an admin types
  the code the device shows (``pair(id, code=...)``); it is paired when the device
  proves, in its claim, that it knows that code (``protocol.claim_proof``) and gets its
  key wrapped with it. Five wrong proofs void the code.

Identity is the device id plus its key: the address it advertised is shown, never
trusted. Unpairing drops the key, so every later event is refused as ``unpaired``; an
unpaired device that shows up again is only *proposed*, even if it is allow-listed.
A pending device that vanishes from the network drops its pending pairing.

Nothing here does I/O or reads a clock: ``now`` is an argument, keys come from
``new_key`` (injectable), and the runtime persists ``Flow.record()`` after each step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from carefleet.errors import IllegalTransition, InputError
from carefleet.machines import build_machine, diagram, fire
from carefleet.devices import protocol
from carefleet.devices.model import Advertisement, Device


class PairingState(Enum):
    DISCOVERED = "discovered"
    """Seen (or named) and not yet proposed; a flow never rests here."""
    PENDING = "pending"
    """Proposed to staff: waits for an admin (allow-list confirmation or the code)."""
    PAIRED = "paired"
    """Trusted: has a key; its signed events reach the rules."""
    REJECTED = "rejected"
    """An admin said no: its advertisements are ignored until it is unpaired (forgotten)."""
    UNPAIRED = "unpaired"
    """Its key was revoked (or its rejection forgotten); it may be proposed again."""


_S = PairingState
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "propose", "source": [_S.DISCOVERED, _S.UNPAIRED], "dest": _S.PENDING},
    {"trigger": "confirm", "source": _S.PENDING, "dest": _S.PAIRED},
    {"trigger": "reject", "source": _S.PENDING, "dest": _S.REJECTED},
    {"trigger": "unpair", "source": [_S.PAIRED, _S.REJECTED], "dest": _S.UNPAIRED},
    {"trigger": "vanish", "source": _S.PENDING, "dest": _S.DISCOVERED},
]
MACHINE = build_machine(PairingState, TRANSITIONS, PairingState.DISCOVERED)
#: States kept in the store (pending ones live only as long as the advertisement).
STORED = (_S.PAIRED, _S.REJECTED, _S.UNPAIRED)

CLAIM_WINDOW = 600.0       # seconds an allow-listed device has to fetch its key
CODE_TTL = 600.0           # seconds a typed pairing code waits for the device's claim
CODE_ATTEMPTS = 5          # wrong proofs before a typed code is void


def diagram_text() -> str:
    """The pairing machine as Graphviz ``dot`` (drawn from ``TRANSITIONS``)."""
    return diagram(PairingState, TRANSITIONS, "device pairing")


class StepType(str, Enum):
    FORM = "form"
    """Waiting for someone: an admin (``confirm``) or the device (``awaiting_device``)."""
    ABORT = "abort"
    """Nothing more to do (already paired, rejected, vanished ...); ``reason`` says why."""
    CREATE_ENTRY = "create_entry"
    """Paired now: ``key`` is the device's new key (store it; deliver it on claim)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    type: StepType
    step_id: str
    device_id: str
    reason: str = ""
    key: bytes | None = None

    def __repr__(self) -> str:          # never print a key
        return f"Step({self.type.value}, {self.step_id!r}, {self.device_id!r}, {self.reason!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """The answer to a device fetching its key: ``key`` (allow-list, plain),
    ``wrapped`` (pairing code, base64url), ``waiting`` (ask again) or ``refused``."""

    status: str
    device_id: str
    reason: str = ""
    key: bytes | None = None
    wrapped: str | None = None
    step: Step | None = None

    def __repr__(self) -> str:
        return f"Claim({self.status!r}, {self.device_id!r}, {self.reason!r})"


class Flow:
    """One device's pairing (the model of ``MACHINE``)."""

    state: PairingState

    def __init__(self, device: Device, now: float, *, state: PairingState = _S.DISCOVERED,
                 advert: Advertisement | None = None) -> None:
        self.device = device
        self.advert = advert
        self.seen_at = now if advert is not None else None
        self.changed_at = now
        self.changed_by = "discovery"
        self.method: str | None = None          # "allow_list" or "code"
        self.key: bytes | None = None
        self.paired_at: float | None = None
        self.delivered_at: float | None = None
        self.deliver_until: float | None = None
        self.code_secret: bytes | None = None   # code_key of the typed code (memory only)
        self.code_until: float | None = None
        self.code_failures = 0
        self.note = ""                          # why it is pending (e.g. differs from list)
        MACHINE.add_model(self, initial=state)

    def view(self) -> dict[str, Any]:
        """Plain data for the API: never the key or the code."""
        return {**self.device.record(), "pairing": self.state.value, "method": self.method,
                "paired_at": self.paired_at, "key_delivered": self.delivered_at is not None,
                "awaiting_device": self.code_secret is not None,
                "changed_at": self.changed_at, "changed_by": self.changed_by,
                "seen_at": self.seen_at, "note": self.note,
                "addresses": list(self.advert.addresses) if self.advert else [],
                "port": self.advert.port if self.advert else None}

    def record(self) -> dict[str, Any]:
        """What the store keeps (the key separately, encrypted)."""
        return {**self.device.record(), "state": self.state.value, "method": self.method,
                "paired_at": self.paired_at, "delivered_at": self.delivered_at,
                "changed_at": self.changed_at, "changed_by": self.changed_by}


def _differences(entry: Device, seen: Device) -> list[str]:
    """Where an advertisement disagrees with its allow-list entry (kind, room)."""
    wrong = []
    if seen.kind is not entry.kind:
        wrong.append(f"kind {seen.kind.value} (listed: {entry.kind.value})")
    if entry.room_bound and seen.room is not None and seen.room != entry.room:
        wrong.append(f"room {seen.room} (listed: {entry.room})")
    return wrong


class Pairings:
    """Every device's pairing flow, by device id.

    ``allow`` maps device ids to their allow-list entries. Methods that change a flow
    return a ``Step``; illegal requests raise ``IllegalTransition`` (a 409) or
    ``InputError`` (404/422) and change nothing.
    """

    def __init__(self, allow: Mapping[str, Device] | Iterable[Device] = (), *,
                 claim_window: float = CLAIM_WINDOW, code_ttl: float = CODE_TTL,
                 code_attempts: int = CODE_ATTEMPTS, window: float = protocol.WINDOW,
                 new_key: Callable[[], bytes] = protocol.new_key) -> None:
        entries = allow.values() if isinstance(allow, Mapping) else allow
        self.allow: dict[str, Device] = {d.id: d for d in entries}
        self.claim_window, self.code_ttl, self.code_attempts = claim_window, code_ttl, code_attempts
        self.window = window
        self.new_key = new_key
        self.flows: dict[str, Flow] = {}
        #: Ids unpaired once: never paired automatically again (only by an admin).
        self.revoked: set[str] = set()

    # == restoring ===========================================================
    def restore(self, record: Mapping[str, Any], key: bytes | None) -> Flow:
        """A stored flow (paired, rejected or unpaired) back in memory."""
        state = PairingState(record["state"])
        if state not in STORED:
            raise InputError(f"device {record.get('id')}", f"a stored pairing is never "
                             f"{state.value}", field="state")
        flow = Flow(Device.from_record(record), float(record["changed_at"]), state=state)
        flow.method, flow.changed_by = record.get("method"), record.get("changed_by", "store")
        flow.paired_at = record.get("paired_at")
        flow.delivered_at = record.get("delivered_at")
        if state is _S.PAIRED:
            flow.key = key
            if flow.delivered_at is None and flow.paired_at is not None:
                flow.deliver_until = flow.paired_at + self.claim_window
        self._drop(flow.device.id)
        self.flows[flow.device.id] = flow
        if state is _S.UNPAIRED:
            self.revoked.add(flow.device.id)
        return flow

    # == discovery ===========================================================
    def discovered(self, advert: Advertisement, now: float) -> Step:
        """A device advertised itself (new or again)."""
        device_id = advert.device.id
        flow = self.flows.get(device_id)
        if flow is None or flow.state is _S.DISCOVERED:
            flow = self._new(advert.device, now, advert)
        else:
            flow.advert, flow.seen_at = advert, now
        if flow.state is _S.PAIRED:
            differs = _differences(flow.device, advert.device)
            flow.note = ("advertises " + ", ".join(differs)) if differs else ""
            return Step(type=StepType.ABORT, step_id="already_paired", device_id=device_id,
                        reason="already paired; its advertisement changes nothing")
        if flow.state is _S.REJECTED:
            return Step(type=StepType.ABORT, step_id="rejected", device_id=device_id,
                        reason="rejected by an admin")
        if flow.state is not _S.PENDING:
            self._fire(flow, "propose", now, "discovery")
        if flow.code_secret is None:
            flow.device = advert.device
        entry = self.allow.get(device_id)
        if entry is not None and device_id not in self.revoked and flow.code_secret is None:
            differs = _differences(entry, advert.device)
            if not differs:
                return self._confirm(flow, self._listed(entry, advert.device), now,
                                     "allow_list", "allow-list")
            flow.note = "differs from the allow-list: " + ", ".join(differs)
        return self._waiting(flow)

    def vanished(self, device_id: str, now: float) -> Step | None:
        """Its advertisement went away: a pending pairing is dropped; a paired device
        stays paired (its heartbeats tell whether it is alive)."""
        flow = self.flows.get(device_id)
        if flow is None:
            return None
        flow.advert = None
        if flow.state is not _S.PENDING:
            return None
        self._fire(flow, "vanish", now, "discovery")
        self._drop(device_id)
        return Step(type=StepType.ABORT, step_id="vanished", device_id=device_id,
                    reason="left the network before it was paired")

    # == an admin ============================================================
    def pair(self, device_id: str, now: float, *, by: str, code: str | None = None,
             room: str | None = None, resident: str | None = None) -> Step:
        """An admin pairs a device: allow-listed ones need no code; others need the
        code the device shows (then the device's claim completes the pairing).
        ``room``/``resident`` correct what the device advertised (e.g. a wearable's
        resident)."""
        flow = self.flows.get(device_id)
        entry = self.allow.get(device_id)
        fresh = flow is None or flow.state is _S.DISCOVERED
        if fresh and entry is None:
            raise InputError(f"device {device_id}", "not seen on the network and not on "
                             "the allow-list", field="device_id")
        if flow is not None and flow.state is _S.PAIRED:
            return Step(type=StepType.ABORT, step_id="already_paired", device_id=device_id,
                        reason="already paired (unpair it first to pair it again)")
        if flow is not None and flow.state is _S.REJECTED:
            raise IllegalTransition(f"device {device_id}", flow.state.value, "pair")
        device = entry if fresh else flow.device
        if room is not None or resident is not None:
            device = replace(device, room=room or device.room,
                             resident=resident or device.resident)
        if device.room_bound and device.room is None:
            raise InputError(f"device {device_id}", f"say which room this "
                             f"{device.kind.value} is in to pair it", field="room")
        if code is None and entry is None:
            raise InputError(f"device {device_id}", "not on the allow-list: type the pairing "
                             "code the device shows", field="code")
        code_secret = protocol.code_key(code, device_id) if code is not None else None
        # checked: from here on nothing refuses
        if fresh:
            flow = self._new(device, now, None)
        if flow.state is not _S.PENDING:
            self._fire(flow, "propose", now, by)
        flow.device = device
        if code_secret is not None:
            flow.code_secret = code_secret
            flow.code_until, flow.code_failures = now + self.code_ttl, 0
            flow.changed_at, flow.changed_by = now, by
            return Step(type=StepType.FORM, step_id="awaiting_device", device_id=device_id,
                        reason="code taken: the device completes the pairing when it claims "
                               "its key")
        return self._confirm(flow, self._listed(entry, device), now, "allow_list", by)

    def reject(self, device_id: str, now: float, *, by: str) -> Step:
        flow = self._flow(device_id)
        self._fire(flow, "reject", now, by)
        flow.code_secret = None
        return Step(type=StepType.ABORT, step_id="rejected", device_id=device_id,
                    reason=f"rejected by {by}")

    def unpair(self, device_id: str, now: float, *, by: str) -> Step:
        """Revoke a paired device's key (or forget a rejection)."""
        flow = self._flow(device_id)
        self._fire(flow, "unpair", now, by)
        flow.key, flow.code_secret, flow.deliver_until = None, None, None
        flow.method = None
        self.revoked.add(device_id)
        return Step(type=StepType.ABORT, step_id="unpaired", device_id=device_id,
                    reason=f"unpaired by {by}: its key is revoked")

    # == the device fetches its key =============================================
    def claim(self, body: Mapping[str, Any], proof: str | None, now: float) -> Claim:
        """A device asks for its key (``protocol.check_claim`` has checked ``body``)."""
        device_id = body["device"]
        if abs(float(body["at"]) - now) > self.window:
            return Claim(status="refused", device_id=device_id, reason="stale")
        flow = self.flows.get(device_id)
        if flow is None or flow.state in (_S.DISCOVERED, _S.UNPAIRED):
            return Claim(status="waiting", device_id=device_id, reason="not_proposed")
        if flow.state is _S.REJECTED:
            return Claim(status="refused", device_id=device_id, reason="rejected")
        if flow.code_secret is not None and flow.code_until is not None \
                and now > flow.code_until:
            flow.code_secret = None
        if flow.state is _S.PENDING:
            if flow.code_secret is None or proof is None:
                return Claim(status="waiting", device_id=device_id, reason="awaiting_admin")
            if not protocol.proof_matches(body, proof, flow.code_secret):
                return self._wrong_proof(flow)
            secret = flow.code_secret
            step = self._confirm(flow, flow.device, now, "code", flow.changed_by)
            flow.code_secret = secret            # a lost answer may be claimed again
            flow.delivered_at = now
            return Claim(status="key", device_id=device_id, step=step,
                         wrapped=protocol.wrap_key(flow.key, secret, body["nonce"]))
        # paired
        if flow.method == "code":
            if flow.code_secret is not None and protocol.proof_matches(body, proof,
                                                                       flow.code_secret):
                flow.delivered_at = now
                return Claim(status="key", device_id=device_id,
                             wrapped=protocol.wrap_key(flow.key, flow.code_secret, body["nonce"]))
            if flow.code_secret is not None and proof is not None:
                return self._wrong_proof(flow)
            return Claim(status="refused", device_id=device_id, reason="already_delivered")
        if flow.delivered_at is not None:
            return Claim(status="refused", device_id=device_id, reason="already_delivered")
        if flow.deliver_until is None or now > flow.deliver_until or flow.key is None:
            return Claim(status="refused", device_id=device_id, reason="claim_window_over")
        flow.delivered_at = now
        return Claim(status="key", device_id=device_id, key=flow.key)

    # == reading ================================================================
    def key_of(self, device_id: str) -> tuple[Device, bytes] | None:
        """The paired device and its key, or None (what the verifier asks)."""
        flow = self.flows.get(device_id)
        if flow is None or flow.state is not _S.PAIRED or flow.key is None:
            return None
        return flow.device, flow.key

    def state_of(self, device_id: str) -> PairingState | None:
        flow = self.flows.get(device_id)
        return None if flow is None else flow.state

    def in_state(self, *states: PairingState) -> list[Flow]:
        return [self.flows[i] for i in sorted(self.flows) if self.flows[i].state in states]

    # == inside =================================================================
    def _flow(self, device_id: str) -> Flow:
        flow = self.flows.get(device_id)
        if flow is None or flow.state is _S.DISCOVERED:
            raise InputError(f"device {device_id}", "no such device", field="device_id")
        return flow

    def _new(self, device: Device, now: float, advert: Advertisement | None) -> Flow:
        self._drop(device.id)
        flow = Flow(device, now, advert=advert)
        self.flows[device.id] = flow
        return flow

    def _drop(self, device_id: str) -> None:
        old = self.flows.pop(device_id, None)
        if old is not None:
            MACHINE.remove_model(old)

    def _fire(self, flow: Flow, trigger: str, now: float, by: str) -> None:
        fire(MACHINE, flow, trigger, what=f"device {flow.device.id}")
        flow.changed_at, flow.changed_by = now, by

    def _confirm(self, flow: Flow, device: Device, now: float, method: str, by: str) -> Step:
        if device.room_bound and device.room is None:
            raise InputError(f"device {device.id}", f"say which room this {device.kind.value} "
                             "is in to pair it", field="room")
        self._fire(flow, "confirm", now, by)
        flow.device, flow.method, flow.key = device, method, self.new_key()
        flow.paired_at, flow.delivered_at, flow.note = now, None, ""
        flow.deliver_until = now + self.claim_window
        flow.code_secret = None
        self.revoked.discard(flow.device.id)
        return Step(type=StepType.CREATE_ENTRY, step_id="paired", device_id=flow.device.id,
                    reason=f"paired by {'the allow-list' if method == 'allow_list' else 'code'}",
                    key=flow.key)

    def _waiting(self, flow: Flow) -> Step:
        step_id = "awaiting_device" if flow.code_secret is not None else "confirm"
        return Step(type=StepType.FORM, step_id=step_id, device_id=flow.device.id,
                    reason=flow.note or "waiting for an admin to pair or reject it")

    def _wrong_proof(self, flow: Flow) -> Claim:
        flow.code_failures += 1
        if flow.code_failures >= self.code_attempts:
            flow.code_secret = None
            return Claim(status="refused", device_id=flow.device.id, reason="code_voided")
        return Claim(status="refused", device_id=flow.device.id, reason="bad_proof")

    @staticmethod
    def _listed(entry: Device, seen: Device) -> Device:
        """The allow-list entry, with the model and firmware the device reports."""
        return replace(entry, model=entry.model or seen.model,
                       firmware=entry.firmware or seen.firmware,
                       stream_url=entry.stream_url or seen.stream_url)
