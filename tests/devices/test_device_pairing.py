"""Pairing flows, as Home Assistant tests its config flows: feed discovery data and admin
steps, assert the result type and step. Time is an argument; keys are injected."""

from __future__ import annotations

import itertools

import pytest

from carefleet.errors import IllegalTransition, InputError
from carefleet.devices import protocol
from carefleet.devices.model import Advertisement, Device
from carefleet.devices.pairing import (MACHINE, TRANSITIONS, PairingState, Pairings, StepType,
                                       diagram_text)

BED = Device(id="bed-101", kind="bed_exit", room="room_101")
BUTTON = Device(id="btn-102", kind="call_button", room="room_102")
CODE = "1234-5678"


def advert(device: Device, address: str = "127.0.0.1") -> Advertisement:
    return Advertisement(device=device, name=f"{device.id}._carefleet._tcp.local.",
                         service_type="_carefleet._tcp.local.", addresses=(address,), port=80)


def keys() -> object:
    counter = itertools.count(1)
    return lambda: next(counter).to_bytes(32, "big")


def pairings(**kwargs: object) -> Pairings:
    return Pairings([BED], new_key=keys(), **kwargs)


def claim(p: Pairings, device_id: str, now: float, code: str | None = None):
    body = protocol.claim_body(device=device_id, at=now)
    proof = protocol.claim_proof(body, protocol.code_key(code, device_id)) if code else None
    return body, p.claim(body, proof, now)


def test_every_transition_is_named_and_drawn() -> None:
    assert {t["trigger"] for t in TRANSITIONS} == {"propose", "confirm", "reject", "unpair",
                                                   "vanish"}
    assert '"pending" -> "paired" [label="confirm"]' in diagram_text()
    assert MACHINE.auto_transitions is False


def test_an_allow_listed_device_is_paired_when_seen_and_claims_its_key_once() -> None:
    p = pairings()
    step = p.discovered(advert(BED), 100.0)
    assert (step.type, step.step_id) == (StepType.CREATE_ENTRY, "paired")
    assert step.key == (1).to_bytes(32, "big")
    assert p.state_of("bed-101") is PairingState.PAIRED and p.key_of("bed-101")[1] == step.key
    _, first = claim(p, "bed-101", 101.0)
    assert first.status == "key" and first.key == step.key
    _, again = claim(p, "bed-101", 102.0)                    # trust on first use: once
    assert (again.status, again.reason) == ("refused", "already_delivered")
    # seen again: nothing changes, and a new address is not a new identity
    step = p.discovered(advert(BED, "127.0.0.2"), 200.0)
    assert (step.type, step.step_id) == (StepType.ABORT, "already_paired")
    assert p.key_of("bed-101")[1] == (1).to_bytes(32, "big")


def test_an_allow_listed_key_waits_only_for_the_claim_window() -> None:
    p = pairings(claim_window=60.0)
    p.discovered(advert(BED), 100.0)
    _, late = claim(p, "bed-101", 161.0)
    assert (late.status, late.reason) == ("refused", "claim_window_over")


def test_an_advertisement_that_differs_from_the_allow_list_waits_for_an_admin() -> None:
    p = pairings()
    step = p.discovered(advert(Device(id="bed-101", kind="bed_exit", room="room_102")), 0.0)
    assert (step.type, step.step_id) == (StepType.FORM, "confirm")
    assert "room room_102 (listed: room_101)" in p.flows["bed-101"].note
    step = p.pair("bed-101", 1.0, by="staff:ada")           # the list's room wins
    assert step.type is StepType.CREATE_ENTRY and p.key_of("bed-101")[0].room == "room_101"


def test_pairing_by_code_completes_when_the_device_proves_it_knows_the_code() -> None:
    p = pairings()
    assert p.discovered(advert(BUTTON), 0.0).step_id == "confirm"
    assert p.state_of("btn-102") is PairingState.PENDING
    with pytest.raises(InputError) as caught:               # not listed: needs the code
        p.pair("btn-102", 1.0, by="staff:ada")
    assert caught.value.field == "code"
    _, waiting = claim(p, "btn-102", 1.0, CODE)
    assert (waiting.status, waiting.reason) == ("waiting", "awaiting_admin")
    step = p.pair("btn-102", 2.0, by="staff:ada", code=CODE)
    assert (step.type, step.step_id) == (StepType.FORM, "awaiting_device")
    assert p.state_of("btn-102") is PairingState.PENDING   # not yet: the device must prove it
    _, wrong = claim(p, "btn-102", 3.0, "8765-4321")
    assert (wrong.status, wrong.reason) == ("refused", "bad_proof")
    body, right = claim(p, "btn-102", 4.0, CODE)
    assert right.status == "key" and right.key is None and right.step.type is StepType.CREATE_ENTRY
    key = protocol.unwrap_key(right.wrapped, protocol.code_key(CODE, "btn-102"), body["nonce"])
    assert p.key_of("btn-102") == (BUTTON, key)
    assert right.wrapped != protocol.encode_key(key)        # never in clear on the wire
    _, again = claim(p, "btn-102", 5.0, CODE)                # a lost answer: claim again
    assert again.status == "key"
    _, stranger = claim(p, "btn-102", 6.0)
    assert (stranger.status, stranger.reason) == ("refused", "already_delivered")


def test_five_wrong_proofs_void_a_typed_code() -> None:
    p = pairings()
    p.discovered(advert(BUTTON), 0.0)
    p.pair("btn-102", 1.0, by="staff:ada", code=CODE)
    reasons = [claim(p, "btn-102", 2.0, f"0000-000{i}")[1].reason for i in range(5)]
    assert reasons == ["bad_proof"] * 4 + ["code_voided"]
    _, right = claim(p, "btn-102", 3.0, CODE)                # the code is gone now
    assert (right.status, right.reason) == ("waiting", "awaiting_admin")


def test_a_typed_code_expires() -> None:
    p = pairings(code_ttl=60.0)
    p.discovered(advert(BUTTON), 0.0)
    p.pair("btn-102", 1.0, by="staff:ada", code=CODE)
    _, late = claim(p, "btn-102", 62.0, CODE)
    assert late.status == "waiting"


def test_reject_then_unpair_forgets_the_rejection() -> None:
    p = pairings()
    p.discovered(advert(BUTTON), 0.0)
    assert p.reject("btn-102", 1.0, by="staff:ada").step_id == "rejected"
    assert p.discovered(advert(BUTTON), 2.0).step_id == "rejected"      # ignored
    assert claim(p, "btn-102", 2.0, CODE)[1].reason == "rejected"
    with pytest.raises(IllegalTransition):
        p.pair("btn-102", 3.0, by="staff:ada", code=CODE)
    with pytest.raises(IllegalTransition):
        p.reject("btn-102", 3.0, by="staff:ada")
    p.unpair("btn-102", 4.0, by="staff:ada")
    assert p.discovered(advert(BUTTON), 5.0).step_id == "confirm"


def test_unpairing_revokes_and_an_unpaired_allow_listed_device_is_only_proposed() -> None:
    p = pairings()
    p.discovered(advert(BED), 0.0)
    step = p.unpair("bed-101", 1.0, by="staff:ada")
    assert step.step_id == "unpaired" and p.key_of("bed-101") is None
    assert p.state_of("bed-101") is PairingState.UNPAIRED
    assert p.discovered(advert(BED), 2.0).step_id == "confirm"          # not paired again
    assert p.vanished("bed-101", 3.0).step_id == "vanished"
    assert p.discovered(advert(BED), 4.0).step_id == "confirm"          # still not
    step = p.pair("bed-101", 5.0, by="staff:ada")                       # an admin may
    assert step.type is StepType.CREATE_ENTRY and step.key == (2).to_bytes(32, "big")
    p.unpair("bed-101", 6.0, by="staff:ada")
    with pytest.raises(IllegalTransition):                               # twice: no
        p.unpair("bed-101", 7.0, by="staff:ada")


def test_a_vanished_device_drops_its_pending_pairing_but_a_paired_one_stays() -> None:
    p = pairings()
    p.discovered(advert(BUTTON), 0.0)
    p.pair("btn-102", 1.0, by="staff:ada", code=CODE)
    assert p.vanished("btn-102", 2.0).step_id == "vanished"
    assert p.state_of("btn-102") is None
    assert claim(p, "btn-102", 3.0, CODE)[1].status == "waiting"        # the code went too
    p.discovered(advert(BED), 4.0)
    assert p.vanished("bed-101", 5.0) is None
    assert p.state_of("bed-101") is PairingState.PAIRED
    assert p.vanished("nobody", 5.0) is None


def test_an_admin_may_pair_an_allow_listed_device_before_it_is_seen() -> None:
    p = pairings()
    assert p.pair("bed-101", 0.0, by="staff:ada").type is StepType.CREATE_ENTRY
    with pytest.raises(InputError) as caught:
        p.pair("ghost-1", 0.0, by="staff:ada", code=CODE)
    assert caught.value.field == "device_id"
    assert p.state_of("ghost-1") is None


def test_a_refused_admin_step_changes_nothing() -> None:
    p = pairings()
    camera = Device(id="cam-9", kind="room_camera", stream_url="rtsp://127.0.0.1:8554/x")
    p.discovered(advert(camera), 0.0)
    with pytest.raises(InputError) as caught:                  # no room: say where it is
        p.pair("cam-9", 1.0, by="staff:ada", code=CODE)
    assert caught.value.field == "room"
    with pytest.raises(InputError):
        p.pair("cam-9", 1.0, by="staff:ada", code="12")        # not a code
    assert p.flows["cam-9"].code_secret is None
    step = p.pair("cam-9", 2.0, by="staff:ada", code=CODE, room="room_101")
    assert step.step_id == "awaiting_device" and p.flows["cam-9"].device.room == "room_101"


def test_a_stale_claim_is_refused() -> None:
    p = pairings()
    p.discovered(advert(BED), 0.0)
    body = protocol.claim_body(device="bed-101", at=0.0)
    assert p.claim(body, None, 61.0).reason == "stale"


def test_restored_flows_keep_state_and_key() -> None:
    p = pairings()
    p.discovered(advert(BED), 0.0)
    p.discovered(advert(BUTTON), 0.0)
    p.reject("btn-102", 1.0, by="staff:ada")
    records = [(f.record(), f.key) for f in p.flows.values()]
    again = Pairings([BED], new_key=keys())
    for record, key in records:
        again.restore(record, key)
    assert again.key_of("bed-101") == p.key_of("bed-101")
    assert again.state_of("btn-102") is PairingState.REJECTED
    _, first = claim(again, "bed-101", 2.0)          # not delivered before the restart
    assert first.status == "key"
    with pytest.raises(InputError):
        again.restore({**BED.record(), "state": "pending", "changed_at": 0.0}, None)
