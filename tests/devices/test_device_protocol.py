"""The v1 event format: signed events are verified, every other kind is refused with its
reason, and a refused event leaves nothing behind (not even its nonce)."""

from __future__ import annotations

import json

import pytest

from carefleet.devices import protocol
from carefleet.devices.model import Device
from carefleet.devices.protocol import Accepted, Refusal, Refused, Verifier
from carefleet.orchestrator.events import DeviceEvent

BED = Device(id="bed-101", kind="bed_exit", room="room_101")
BAND = Device(id="band-anna", kind="wearable", resident="anna", room="room_101")
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PLACES = {"room_101", "room_102", "lounge"}
NOW = 1_800_000_000.0


def verifier(**kwargs: object) -> Verifier:
    paired = {BED.id: (BED, KEY), BAND.id: (BAND, KEY)}
    return Verifier(paired.get, PLACES, **kwargs)


def signed(device: str = "bed-101", kind: str = "bed_exit", *, key: bytes = KEY,
           at: float = NOW, room: str | None = "room_101", data: dict | None = None,
           nonce: str | None = None) -> tuple[bytes, str]:
    body = protocol.event_body(device=device, kind=kind, at=at, room=room, data=data,
                               nonce=nonce)
    return protocol.sign_event(body, key)


def test_a_signed_event_becomes_the_cores_device_event() -> None:
    verdict = verifier().verify(*signed(), NOW + 5)
    assert isinstance(verdict, Accepted)
    assert verdict.event == DeviceEvent(device_id="bed-101", kind="bed_exit", room="room_101")
    assert verdict.message.at == NOW


def test_the_signature_is_over_the_canonical_body() -> None:
    body = protocol.event_body(device="bed-101", kind="bed_exit", at=NOW, room=None,
                               nonce="abcdefgh12")
    assert protocol.canonical(body) == (
        b'{"at":1800000000.0,"data":{},"device":"bed-101","kind":"bed_exit",'
        b'"nonce":"abcdefgh12","room":null,"v":1}')
    spaced = json.dumps(body, indent=2).encode()        # same object, other spacing
    verdict = verifier().verify(spaced, protocol.signature(protocol.canonical(body), KEY), NOW)
    assert isinstance(verdict, Accepted) and verdict.message.room == "room_101"


@pytest.mark.parametrize("case, reason", [
    ("no signature", Refusal.UNSIGNED),
    ("bad signature text", Refusal.UNSIGNED),
    ("unpaired", Refusal.UNPAIRED),
    ("spoofed key", Refusal.SPOOFED),
    ("edited after signing", Refusal.SPOOFED),
    ("stale", Refusal.STALE),
    ("from the future", Refusal.STALE),
    ("wrong room", Refusal.WRONG_ROOM),
    ("wearable in no ward room", Refusal.WRONG_ROOM),
    ("wrong kind", Refusal.WRONG_KIND),
    ("not json", Refusal.MALFORMED),
    ("unknown field", Refusal.MALFORMED),
    ("version 2", Refusal.MALFORMED),
    ("bad data", Refusal.MALFORMED),
    ("too big", Refusal.MALFORMED),
])
def test_every_bad_event_is_refused_with_its_reason(case: str, reason: Refusal) -> None:
    payload, signature = signed()
    if case == "no signature":
        signature = None
    elif case == "bad signature text":
        signature = "sha256=" + signature[3:]
    elif case == "unpaired":
        payload, signature = signed(device="bed-999")
    elif case == "spoofed key":
        payload, signature = signed(key=OTHER_KEY)
    elif case == "edited after signing":
        payload = payload.replace(b"room_101", b"room_102")
    elif case == "stale":
        payload, signature = signed(at=NOW - 61)
    elif case == "from the future":
        payload, signature = signed(at=NOW + 61)
    elif case == "wrong room":
        payload, signature = signed(room="room_102")
    elif case == "wearable in no ward room":
        payload, signature = signed(device="band-anna", kind="fall", room="room_999")
    elif case == "wrong kind":
        payload, signature = signed(kind="fall")
    elif case == "not json":
        payload = b"{not json"
    elif case == "unknown field":
        body = {**json.loads(payload), "admin": True}
        payload, signature = protocol.sign_event(body, KEY)
    elif case == "version 2":
        payload, signature = protocol.sign_event({**json.loads(payload), "v": 2}, KEY)
    elif case == "bad data":
        payload, signature = signed(device="band-anna", kind="vitals", data={"heart_rate": 900})
    elif case == "too big":
        payload, signature = signed(data={"note": "x" * 200, **{f"f{i}": i for i in range(20)}})
        payload = payload + b" " * protocol.MAX_BODY
    check = verifier()
    verdict = check.verify(payload, signature, NOW)
    assert isinstance(verdict, Refused), case
    assert verdict.reason is reason, (case, verdict)
    assert verdict.reason.status in (400, 401, 403, 409, 422, 429)
    # a refused event leaves no nonce behind: the genuine one still goes through
    assert isinstance(check.verify(*signed(), NOW), Accepted)


def test_a_replay_is_refused_within_the_window_and_stale_after_it() -> None:
    check = verifier()
    event = signed(nonce="same-nonce-1")
    assert isinstance(check.verify(*event, NOW), Accepted)
    again = check.verify(*event, NOW + 30)
    assert isinstance(again, Refused) and again.reason is Refusal.REPLAY
    later = check.verify(*event, NOW + 200)              # the cache forgot, the clock did not
    assert isinstance(later, Refused) and later.reason is Refusal.STALE
    other = check.verify(*signed(device="band-anna", kind="sos", nonce="same-nonce-1"), NOW)
    assert isinstance(other, Accepted)                   # nonces are per device


def test_a_flood_within_the_window_is_refused() -> None:
    check = Verifier({BED.id: (BED, KEY)}.get, PLACES,
                     nonces=protocol.NonceCache(limit=3))
    verdicts = [check.verify(*signed(nonce=f"nonce-{i:04d}"), NOW) for i in range(4)]
    assert [type(v).__name__ for v in verdicts] == ["Accepted"] * 3 + ["Refused"]
    assert verdicts[-1].reason is Refusal.FLOOD


def test_a_fixed_device_may_omit_its_room_and_a_wearable_follows_its_beacon() -> None:
    where = {"band-anna": "lounge"}
    check = verifier(room_of=lambda device: where.get(device.id))
    assert check.verify(*signed(room=None), NOW).message.room == "room_101"
    fall = check.verify(*signed(device="band-anna", kind="fall", room=None), NOW)
    assert fall.message.room == "lounge"
    moved = check.verify(*signed(device="band-anna", kind="location", room="room_102"), NOW)
    assert moved.message.room == "room_102"


def test_call_and_vitals_data_are_checked() -> None:
    check = Verifier({"btn": (Device(id="btn", kind="call_button", room="room_101"), KEY)}.get,
                     PLACES)
    verdict = check.verify(*signed(device="btn", kind="call_button"), NOW)
    assert verdict.message.data == {"request": "help"}
    refused = check.verify(*signed(device="btn", kind="call_button", data={"request": "tea"}),
                           NOW)
    assert refused.reason is Refusal.MALFORMED and "data.request" in refused.detail
    assert verifier().verify(*signed(device="band-anna", kind="vitals", data={}),
                             NOW).reason is Refusal.MALFORMED


def test_key_wrapping_and_claims() -> None:
    secret = protocol.code_key("1234 5678", "btn")
    assert secret == protocol.code_key("12345678", "btn") != protocol.code_key("12345678", "b2")
    wrapped = protocol.wrap_key(KEY, secret, "nonce-123")
    assert protocol.unwrap_key(wrapped, secret, "nonce-123") == KEY
    assert protocol.unwrap_key(wrapped, secret, "nonce-124") != KEY
    body = protocol.claim_body(device="btn", at=NOW)
    payload = protocol.canonical(body)
    assert protocol.check_claim(payload) == body
    assert protocol.proof_matches(body, protocol.claim_proof(body, secret), secret)
    assert not protocol.proof_matches(body, protocol.claim_proof(body, KEY), secret)
    assert not protocol.proof_matches(body, None, secret)
    assert protocol.decode_key(protocol.encode_key(KEY)) == KEY
    code = protocol.new_pairing_code()
    assert len(protocol.normal_code(code)) == 8
