"""The whole loop over real sockets: a real ``carefleet serve`` (with the device routes)
browses zeroconf on 127.0.0.1, simulated devices advertise there, are paired by the
allow-list and by a code an admin types, and send signed events over HTTP that become
tasks and alerts; spoofed, unpaired, replayed, unsigned and wrong-room events are
refused; a device that goes silent raises its alert.

The three tests share one ward (starting one is the slow part); each uses its own
devices and checks only what they did.
"""

from __future__ import annotations

import json

import httpx
import pytest

from carefleet.devices import protocol
from carefleet.devices.model import Device
from carefleet.devices.simulators import SimSpec, Simulator
from conftest import start_served, until

DEVICES = """
discovery: {interfaces: [127.0.0.1]}
heartbeat: {interval: 0.5s, grace: 0.25s, missed: 2}
allow:
  - {id: bed-101, kind: bed_exit, room: room_101}
  - {id: band-anna, kind: wearable, resident: anna}
  - {id: bed-201, kind: bed_exit, room: room_201}
  - {id: bed-108, kind: bed_exit, room: room_108}
  - {id: band-cy, kind: wearable, resident: cy}
residents:
  - {id: anna, room: room_103, heart_rate: [50, 110]}
  - {id: cy, room: room_110}
rules: rules.yaml
"""
# The bundled rules, without their night window (the live ward runs on today's clock).
RULES = """
version: 1
rules:
  - name: bed_exit
    when: {event: bed_exit}
    then:
      task: {kind: go_to, place: "{room}", priority: high}
      alert: {key: device_bed_exit, priority: medium}
    cooldown: 15m
  - name: call_button
    when: {event: call_button}
    then: {call: true}
    dedupe: 30s
  - name: wearable_fall_or_sos
    when: {event: [fall, sos], device_kind: wearable}
    then: {fall: true}
    per: resident
  - name: vitals_out_of_range
    when: {event: vitals, outside_limits: [heart_rate, spo2]}
    then: {alert: {key: device_vitals, priority: high}}
    per: resident
    cooldown: 10m
"""
SPECS = [
    SimSpec(device=Device(id="bed-101", kind="bed_exit", room="room_101"), heartbeat=0.2),
    SimSpec(device=Device(id="band-anna", kind="wearable", resident="anna"), heartbeat=0.2),
    SimSpec(device=Device(id="btn-102", kind="call_button", room="room_102"), heartbeat=0.2,
            code="2468-1357"),
]




@pytest.fixture(scope="module")
def ward(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ward")
    (folder / "rules.yaml").write_text(RULES)
    served = start_served(folder, DEVICES)
    yield served
    served.stop()
    assert "Traceback" not in "".join(served.output), "".join(served.output)


def mine(tasks, devices):
    return sorted((t["kind"], tuple(t["places"])) for t in tasks
                  if t["requested_by"] in devices or t["requested_by"].split(":")[-1] in devices)


def test_discovered_paired_and_turned_into_tasks_and_alerts(ward, run) -> None:
    admin, nurse = ward.clients["ada"], ward.clients["nora"]

    async def main() -> None:
        simulator = Simulator(SPECS, ward.url)
        await simulator.async_start(poll=0.05)
        try:
            # allow-listed: paired as soon as the ward sees them, keys claimed
            await simulator.wait_paired(["bed-101", "band-anna"], timeout=30)
            pending = await until(lambda: ward.device("btn-102"), "the button proposed")
            assert pending["pairing"] == "pending" and pending["addresses"] == ["127.0.0.1"]
            assert not simulator["btn-102"].paired.is_set()
            # not listed: a nurse may not pair it; an admin types the code it shows
            refused = nurse.post("/api/devices/btn-102/pair", json={"code": "2468-1357"})
            assert refused.status_code == 403
            typed = admin.post("/api/devices/btn-102/pair", json={"code": "2468 1357"})
            assert typed.status_code == 200 and typed.json()["step_id"] == "awaiting_device"
            await simulator.wait_paired(["btn-102"], timeout=30)
            assert ward.device("btn-102")["method"] == "code"

            response = await simulator["bed-101"].send("bed_exit")
            assert response.status_code == 202, response.text
            assert response.json()["fired"] == ["bed_exit"]
            response = await simulator["btn-102"].send("call_button", {"request": "help"})
            assert response.json()["fired"] == ["call_button"]
            await simulator["band-anna"].send("location", room="lounge")
            response = await simulator["band-anna"].send("fall")
            assert response.json()["room"] == "lounge"
            response = await simulator["band-anna"].send("vitals", {"heart_rate": 140})
            assert response.json()["fired"] == ["vitals_out_of_range"]
        finally:
            await simulator.async_stop(goodbye=False)
    run(main())
    tasks = mine(ward.tasks(), ("bed-101", "btn-102", "band-anna"))
    assert tasks == [("fall_response", ("lounge",)), ("go_to", ("room_101",)),
                     ("go_to", ("room_102",))]
    alerts = {(a["key"], a["place"]) for a in ward.alerts()}
    assert {("call_button", "room_102"), ("fall_detected", "lounge")} <= alerts
    listing = ward.devices()
    paired = {d["id"]: d for d in listing["paired"]}
    assert {"band-anna", "bed-101", "btn-102"} <= set(paired)
    assert all(paired[d]["key_delivered"] for d in ("band-anna", "bed-101", "btn-102"))
    assert paired["btn-102"]["method"] == "code" and paired["bed-101"]["method"] == "allow_list"
    rules = nurse.get("/api/devices/rules").json()
    assert [r["name"] for r in rules["rules"]] == ["bed_exit", "call_button",
                                                  "wearable_fall_or_sos", "vitals_out_of_range"]
    recent = nurse.get("/api/devices/events", params={"limit": 500}).json()
    assert any(e["kind"] == "fall" and e["outputs"] == ["FallDetected"] for e in recent)


def test_every_spoofing_case_is_refused_over_http(ward, run) -> None:
    before = ward.devices()

    async def main() -> dict:
        simulator = Simulator([SimSpec(device=Device(id="bed-201", kind="bed_exit",
                                                     room="room_201"))], ward.url)
        await simulator.async_start(heartbeats=False, poll=0.05)
        bed = simulator["bed-201"]
        try:
            await simulator.wait_paired(timeout=30)
            genuine = bed.signed("bed_exit")
            other = Device(id="bed-999", kind="bed_exit", room="room_201")
            tries = {
                "spoofed": bed.signed("bed_exit", key=bytes(32)),
                "unpaired": protocol.sign_event(protocol.event_body(
                    device=other.id, kind="bed_exit", at=bed.clock()), bytes(32)),
                "unsigned": (genuine[0], None),
                "wrong_room": bed.signed("bed_exit", room="room_202"),
                "stale": bed.signed("bed_exit", at=bed.clock() - 300),
                "malformed": (b'{"v": 1, "device": "bed-201"}', genuine[1]),
            }
            answers = {}
            for reason, (payload, signature) in tries.items():
                for _ in range(2):
                    response = await bed.post(payload, signature)
                    answers[reason] = (response.status_code, response.json()["error"]["code"])
            first = await bed.post(*genuine)
            replay = await bed.post(*genuine)
            answers["genuine"] = (first.status_code, None)
            answers["replay"] = (replay.status_code, replay.json()["error"]["code"])
            big = await simulator.client.post("/api/devices/events",
                                              content=b"{" + b" " * 20000 + b"}")
            answers["too_large"] = (big.status_code, big.json()["error"]["code"])
            return answers
        finally:
            await simulator.async_stop()
    answers = run(main())
    assert answers == {"spoofed": (401, "spoofed"), "unpaired": (403, "unpaired"),
                       "unsigned": (401, "unsigned"), "wrong_room": (403, "wrong_room"),
                       "stale": (401, "stale"), "malformed": (400, "malformed"),
                       "genuine": (202, None), "replay": (409, "replay"),
                       "too_large": (413, "too_large")}
    assert mine(ward.tasks(), ("bed-201",)) == [("go_to", ("room_201",))]   # only the genuine
    after = ward.devices()
    refused = {k: v - before["refusals"].get(k, 0) for k, v in after["refusals"].items()}
    assert {k: v for k, v in refused.items() if v} == {
        "spoofed": 2, "unpaired": 2, "unsigned": 2, "wrong_room": 2, "stale": 2,
        "malformed": 2, "replay": 1}
    # each reported to staff once: per reason for bed-201, per reason for made-up ids
    log = ward.clients["nora"].get("/api/devices/events", params={"limit": 500}).json()
    reported = [(e["device"], e["refused"]) for e in log
                if not e["accepted"] and e["device"] in ("bed-201", "bed-999") and e["reported"]]
    assert sorted(reported) == sorted([("bed-201", r) for r in (
        "spoofed", "unsigned", "wrong_room", "stale", "malformed", "replay")]
        + ([("bed-999", "unpaired")] if not before["refusals"].get("unpaired") else []))
    # counted under the id each claimed: all but the made-up bed-999 claimed bed-201
    assert next(d for d in after["paired"] if d["id"] == "bed-201")["refused"] == 11


def test_a_silent_device_raises_its_alert_and_unpairing_revokes(ward, run) -> None:
    admin = ward.clients["ada"]
    specs = [SimSpec(device=Device(id="bed-108", kind="bed_exit", room="room_108"),
                     heartbeat=0.2),
             SimSpec(device=Device(id="band-cy", kind="wearable", resident="cy"),
                     heartbeat=0.2)]
    start = ward.devices()["posted"]

    async def main() -> None:
        simulator = Simulator(specs, ward.url)
        await simulator.async_start(poll=0.05)
        try:
            await simulator.wait_paired(timeout=30)
            health = lambda device_id: (ward.device(device_id) or {}).get("health")  # noqa: E731
            await until(lambda: health("bed-108") == "ok", "bed-108 beating")
            simulator["bed-108"].alive = False                       # dies without a word

            def told(device_id: str) -> list[str]:
                log = ward.clients["nora"].get("/api/devices/events",
                                               params={"limit": 500}).json()
                return [e["health"] for e in log if e["device"] == device_id
                        and e["kind"] == "health" and e["health"] != "late"]
            await until(lambda: told("bed-108") == ["silent"], "the silence alerted", 20)
            assert health("bed-108") == "silent" and health("band-cy") == "ok"
            simulator["bed-108"].alive = True                        # back
            await until(lambda: told("bed-108") == ["silent", "ok"], "bed-108 back", 20)
            assert health("bed-108") == "ok"
            simulator["band-cy"].battery = 0.05
            await until(lambda: told("band-cy") == ["battery_low"], "battery low alerted", 20)
            assert health("band-cy") == "battery_low"
            posted = ward.devices()["posted"]
            assert posted["DeviceEvent:device_ok"] >= start.get("DeviceEvent:device_ok", 0) + 1
            unpaired = admin.post("/api/devices/band-cy/unpair")
            assert unpaired.status_code == 200
            assert unpaired.json()["device"]["pairing"] == "unpaired"
            response = await simulator["band-cy"].send("sos")
            assert (response.status_code, response.json()["error"]["code"]) == (403, "unpaired")
            again = admin.post("/api/devices/band-cy/unpair")
            assert again.status_code == 409
            assert admin.post("/api/devices/nobody/pair").status_code == 404
            assert admin.post("/api/devices/band-cy/pair", json={"code": "12"}).status_code \
                == 422
        finally:
            await simulator.async_stop()
    run(main())
    assert mine(ward.tasks(), ("band-cy",)) == []               # its SOS reached nothing
    assert ward.process.poll() is None
    assert json.dumps(ward.devices())          # the listing stays plain JSON
    assert httpx.get(f"{ward.url}/api/devices").status_code == 401
