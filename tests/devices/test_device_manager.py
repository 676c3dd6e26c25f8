"""The device manager around a real host and core (in-process, virtual clock): verified
events become the right tasks and alerts, refused ones reach nothing but one staff
report, health changes raise low alerts, and pairings and keys survive a restart."""

from __future__ import annotations

import inspect
import sqlite3

import pytest

from carefleet.devices import protocol
from carefleet.devices.manager import DeviceManager
from carefleet.devices.model import Advertisement, Device
from carefleet.devices.protocol import Accepted, Refused
from carefleet.devices.store import DeviceStore, key_file
from carefleet.orchestrator.core import Orchestrator
from conftest import SITE, local

CONFIG = """
heartbeat: {interval: 10s, grace: 2s, missed: 3, battery_low: 0.2}
allow:
  - {id: bed-101, kind: bed_exit, room: room_101}
  - {id: btn-102, kind: call_button, room: room_102}
  - {id: band-anna, kind: wearable, resident: anna}
  - {id: door-f1, kind: door_contact, room: fire_door_f1, labels: [exit]}
residents:
  - {id: anna, name: Anna, room: room_103, heart_rate: [50, 110]}
"""
CORE_MAPS_DEVICE_ALERTS = "device_alert" in inspect.getsource(Orchestrator)


def seen(device: Device) -> Advertisement:
    return Advertisement(device=device, name=f"{device.id}._carefleet._tcp.local.",
                         service_type="_carefleet._tcp.local.", addresses=("127.0.0.1",),
                         port=9)


def pair_all(w) -> dict[str, bytes]:
    keys = {}
    for device in w.devices.config.allow:
        step = w.devices.found(seen(device))
        assert step.type.value == "create_entry", step
        keys[device.id] = step.key
    return keys


def send(w, keys, device_id, kind, *, room=None, data=None, key=None, at=None, nonce=None):
    body = protocol.event_body(device=device_id, kind=kind, room=room, data=data,
                               at=w.clock.now() if at is None else at, nonce=nonce)
    received = w.devices.receive(*protocol.sign_event(body, key or keys[device_id]))
    w.settle()
    for future in received.futures:
        assert future.exception() is None, future.exception()
    return received


def test_a_bed_exit_at_night_becomes_a_go_to_task_and_a_nurse_alert(ward) -> None:
    w = ward(CONFIG, start=local(23, 10))
    keys = pair_all(w)
    received = send(w, keys, "bed-101", "bed_exit")
    assert received.decision.fired == ("bed_exit_at_night",)
    (task,) = w.tasks()
    assert (task["kind"], task["progress"]["place"], task["priority"]) == \
        ("go_to", "room_101", "high")
    assert task["requested_by"] == "device:bed-101"
    posted = {k: v for k, v in w.devices.posted.items()}
    assert posted == {"TaskSubmitted": 1, "DeviceEvent:device_alert": 1}
    if CORE_MAPS_DEVICE_ALERTS:
        assert [a["key"] for a in w.alerts()] == ["device_bed_exit"]


def test_a_call_button_and_a_wearable_fall_reach_the_cores_own_handling(ward) -> None:
    w = ward(CONFIG, start=local(9))
    keys = pair_all(w)
    send(w, keys, "btn-102", "call_button", data={"request": "help"})
    send(w, keys, "band-anna", "location", room="lounge")
    send(w, keys, "band-anna", "fall")                       # no room: where its beacon is
    kinds = sorted((t["kind"], t["progress"].get("place") or t["progress"].get("room"))
                   for t in w.tasks())
    assert kinds == [("fall_response", "lounge"), ("go_to", "room_102")]
    alerts = sorted((a["key"], a["place"], a["priority"]) for a in w.alerts())
    assert alerts == [("call_button", "room_102", "medium"), ("fall_detected", "lounge", "high")]


def test_heartbeats_and_vitals_within_limits_reach_nothing(ward) -> None:
    w = ward(CONFIG, start=local(9))
    keys = pair_all(w)
    send(w, keys, "band-anna", "heartbeat", data={"battery": 0.9})
    send(w, keys, "band-anna", "vitals", data={"heart_rate": 80, "spo2": 97})
    send(w, keys, "door-f1", "door_open")                    # by day
    assert w.tasks() == [] and w.alerts() == [] and not w.devices.posted
    received = send(w, keys, "band-anna", "vitals", data={"heart_rate": 130})
    assert received.decision.fired == ("vitals_out_of_range",)
    (alert,) = [f.result() for f in received.futures] and received.decision.outputs
    assert alert.room == "room_103" and alert.data["priority"] == "high"


def test_every_spoofing_case_is_refused_reaches_nothing_and_is_reported_once(ward) -> None:
    w = ward(CONFIG, start=local(23, 30))
    keys = pair_all(w)
    genuine = protocol.event_body(device="bed-101", kind="bed_exit", at=w.clock.now())
    payload, signature = protocol.sign_event(genuine, keys["bed-101"])
    cases = {
        "spoofed": protocol.sign_event(genuine, bytes(32)),
        "unpaired": protocol.sign_event({**genuine, "device": "bed-999"}, bytes(32)),
        "unsigned": (payload, None),
        "wrong_room": protocol.sign_event({**genuine, "room": "room_102",
                                           "nonce": "other-nonce"}, keys["bed-101"]),
        "stale": protocol.sign_event({**genuine, "at": w.clock.now() - 120,
                                      "nonce": "stale-nonce"}, keys["bed-101"]),
    }
    for reason, (body, signed) in cases.items():
        for _ in range(3):                                    # three tries: one report
            verdict = w.devices.receive(body, signed).verdict
            assert isinstance(verdict, Refused) and verdict.reason.value == reason
    w.settle()
    assert w.tasks() == []                                    # nothing reached the core
    assert w.devices.refusals == {reason: 3 for reason in cases}
    assert w.devices.posted == {"DeviceEvent:device_alert": len(cases)}
    assert isinstance(w.devices.receive(payload, signature).verdict, Accepted)
    replay = w.devices.receive(payload, signature)
    assert replay.verdict.reason.value == "replay"
    w.settle()
    assert len(w.tasks()) == 1                                # the genuine one, once
    reported = [e for e in w.devices.recent() if not e["accepted"]]
    assert {e["refused"] for e in reported} == set(cases) | {"replay"}
    if CORE_MAPS_DEVICE_ALERTS:         # the core keeps one open alert per device
        refused = {a["params"]["device"] for a in w.alerts() if a["key"] == "device_refused"}
        assert refused == {"bed-101", "bed-999"}


def test_a_device_that_goes_silent_says_goodbye_or_runs_low_raises_a_low_alert(ward) -> None:
    w = ward(CONFIG, start=local(9))
    keys = pair_all(w)
    start = w.clock.now()
    for device_id in keys:
        send(w, keys, device_id, "heartbeat", data={"battery": 0.9})
    w.clock.t = start + 20
    for device_id in ("btn-102", "band-anna", "door-f1"):
        send(w, keys, device_id, "heartbeat", data={"battery": 0.9})
    assert w.devices.tick() == []                             # bed-101 late: not yet told
    w.clock.t = start + 31.9
    assert w.devices.tick() == []
    w.clock.t = start + 32.0                                  # 3 beats missed + grace
    (silent,) = w.devices.tick()
    w.settle()
    assert silent.result() is not None
    send(w, keys, "btn-102", "goodbye")
    send(w, keys, "band-anna", "heartbeat", data={"battery": 0.1})
    alerts = [e for e in w.devices.recent() if e["kind"] == "health"
              and e["health"] not in ("ok", "late")]
    assert [(e["device"], e["health"]) for e in alerts] == [
        ("bed-101", "silent"), ("btn-102", "gone"), ("band-anna", "battery_low")]
    assert w.devices.posted["DeviceEvent:device_alert"] == 3
    listing = {d["id"]: d["health"] for d in w.devices.listing()["paired"]}
    assert listing == {"bed-101": "silent", "btn-102": "gone", "band-anna": "battery_low",
                       "door-f1": "ok"}
    send(w, keys, "bed-101", "heartbeat", data={"battery": 0.9})      # back
    assert w.devices.posted["DeviceEvent:device_ok"] == 1
    if CORE_MAPS_DEVICE_ALERTS:
        keys_open = sorted(a["key"] for a in w.alerts() if a["state"] != "resolved")
        assert keys_open == ["device_battery_low", "device_goodbye"]
        assert all(a["priority"] == "low" for a in w.alerts())


def test_unpairing_revokes_the_key(ward) -> None:
    w = ward(CONFIG, start=local(9))
    keys = pair_all(w)
    w.devices.unpair("btn-102", by="staff:ada")
    received = send(w, keys, "btn-102", "call_button")
    assert received.verdict.reason.value == "unpaired" and w.tasks() == []


def test_pairings_survive_a_restart_and_keys_are_encrypted_at_rest(ward, tmp_path) -> None:
    w = ward(CONFIG, start=local(9))
    keys = pair_all(w)
    w.devices.found(seen(Device(id="btn-x", kind="call_button", room="room_104")))
    w.devices.pair("btn-x", by="staff:ada", code="1111-2222")          # pending: not stored
    w.devices.stop()
    raw = sqlite3.connect(tmp_path / "ward.db").execute(
        "SELECT id, state, key_enc, record FROM devices ORDER BY id").fetchall()
    assert [r[:2] for r in raw] == [("band-anna", "paired"), ("bed-101", "paired"),
                                    ("btn-102", "paired"), ("door-f1", "paired")]
    for device_id, _, sealed, record in raw:
        assert keys[device_id] not in bytes(sealed) and keys[device_id].hex() not in record
    again = DeviceManager(SITE.ward, str(tmp_path / "ward.db"), w.host.post,
                          config=w.devices.config, ward_clock=w.clock.now, wall=w.clock.now)
    try:
        assert {d: again.pairings.key_of(d)[1] for d in keys} == keys
        assert again.pairings.state_of("btn-x") is None
    finally:
        again.stop()


def test_a_tampered_row_or_another_key_file_opens_no_key(tmp_path) -> None:
    store = DeviceStore(tmp_path / "ward.db")
    record = {**Device(id="bed-1", kind="bed_exit", room="room_101").record(),
              "state": "paired", "changed_at": 1.0}
    store.save(record, bytes(range(32)))
    store.save({**record, "id": "bed-2"}, bytes(range(1, 33)))
    assert [key for _, key in store.load()] == [bytes(range(32)), bytes(range(1, 33))]
    db = sqlite3.connect(tmp_path / "ward.db")
    db.execute("UPDATE devices SET key_enc = (SELECT key_enc FROM devices WHERE id = 'bed-2') "
               "WHERE id = 'bed-1'")                          # a key moved to another device
    db.commit()
    assert [key for _, key in store.load()] == [None, bytes(range(1, 33))]
    store.close()
    assert oct((tmp_path / "ward.db.device-keys").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "ward.db.device-keys").write_bytes(bytes(32))  # another key file
    again = DeviceStore(tmp_path / "ward.db")
    assert [key for _, key in again.load()] == [None, None]
    again.close()
    assert key_file("x.db") == "x.db.device-keys"


def test_a_foreign_sqlite_file_is_refused(tmp_path) -> None:
    db = sqlite3.connect(tmp_path / "other.db")
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    with pytest.raises(Exception) as caught:
        DeviceStore(tmp_path / "other.db")
    assert "not a CareFleet task store" in str(caught.value)
