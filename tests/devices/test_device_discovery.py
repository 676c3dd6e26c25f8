"""Discovery with real zeroconf sockets on 127.0.0.1: simulated devices are found with
their TXT fields, a withdrawn one is lost, junk advertisements are ignored, and what is
found is only ever proposed to pairing."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from carefleet.cli import main
from carefleet.devices.discovery import (RTSP_TYPE, SERVICE_TYPE, Discovery, advertisement,
                                         async_discover, discover)
from carefleet.devices.model import Advertisement, Device
from carefleet.devices.pairing import Pairings, PairingState
from carefleet.devices.simulators import SimSpec, Simulator
from conftest import CARE, ROOT, until

import pytest

SPECS = [SimSpec(device=Device(id="bed-101", kind="bed_exit", room="room_101",
                               model="SimBed", firmware="2.1")),
         SimSpec(device=Device(id="band-anna", kind="wearable", resident="anna")),
         SimSpec(device=Device(id="cam-101", kind="room_camera", room="room_101",
                               stream_url="rtsp://127.0.0.1:8554/cam-101"))]


def test_simulated_devices_are_found_and_a_withdrawn_one_is_lost(run) -> None:
    async def main() -> None:
        found: dict[str, Advertisement] = {}
        lost: list[str] = []
        discovery = Discovery(lambda a: found.__setitem__(a.device.id, a),
                              lambda device_id, name: lost.append(device_id))
        await discovery.async_start()
        simulator = Simulator(SPECS, "http://127.0.0.1:9")      # no ward: advertise only
        await simulator.async_start(claim=False, heartbeats=False)
        try:
            await until(lambda: len(found) == 3, "three devices found", 20)
            bed = found["bed-101"].device
            assert (bed.kind.value, bed.room, bed.model, bed.firmware, bed.api) == \
                ("bed_exit", "room_101", "SimBed", "2.1", 1)
            assert found["bed-101"].addresses == ("127.0.0.1",)
            assert found["band-anna"].device.resident == "anna"
            assert found["cam-101"].device.stream_url == "rtsp://127.0.0.1:8554/cam-101"
            await simulator.withdraw("band-anna")
            await until(lambda: lost == ["band-anna"], "the withdrawn device lost", 20)
        finally:
            await simulator.async_stop()
            await discovery.async_stop()
    run(main())


def test_junk_is_ignored_and_rtsp_cameras_are_found(run) -> None:
    async def main() -> None:
        found: dict[str, Advertisement] = {}
        invalid: list[str] = []
        discovery = Discovery(lambda a: found.__setitem__(a.device.id, a),
                              on_invalid=lambda name, why: invalid.append(why))
        await discovery.async_start()
        zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        address = [socket.inet_aton("127.0.0.1")]
        infos = [
            ServiceInfo(SERVICE_TYPE, f"toaster.{SERVICE_TYPE}", addresses=address, port=1,
                        properties={"id": "toaster", "kind": "toaster"}, server="t.local."),
            ServiceInfo(SERVICE_TYPE, f"nokind.{SERVICE_TYPE}", addresses=address, port=1,
                        properties={"id": "nokind"}, server="n.local."),
            ServiceInfo(RTSP_TYPE, f"Hall Cam 3.{RTSP_TYPE}", addresses=address, port=8554,
                        properties={"path": "/live", "room": "lounge"}, server="h.local."),
        ]
        try:
            await asyncio.gather(*await asyncio.gather(
                *(zc.async_register_service(i) for i in infos)))
            await until(lambda: "Hall-Cam-3" in found and len(invalid) == 2,
                        "the camera found and two junk adverts ignored", 20)
            camera = found["Hall-Cam-3"].device
            assert camera.stream_url == "rtsp://127.0.0.1:8554/live" and camera.room == "lounge"
            assert any("unknown kind" in why for why in invalid)
            assert set(found) == {"Hall-Cam-3"}
        finally:
            await zc.async_unregister_all_services()
            await zc.async_close()
            await discovery.async_stop()
    run(main())


def test_what_is_found_is_only_proposed(run) -> None:
    """Discovery feeds pairing; an unlisted device waits, whatever it claims to be."""
    async def main() -> Pairings:
        pairings = Pairings([Device(id="bed-101", kind="bed_exit", room="room_101")])
        discovery = Discovery(lambda a: pairings.discovered(a, 0.0),
                              lambda device_id, name: pairings.vanished(device_id, 1.0))
        await discovery.async_start()
        simulator = Simulator(SPECS, "http://127.0.0.1:9")
        await simulator.async_start(claim=False, heartbeats=False)
        try:
            await until(lambda: len(pairings.flows) == 3, "three flows", 20)
            await simulator.withdraw("cam-101")
            await until(lambda: "cam-101" not in pairings.flows, "the pending camera dropped")
            assert pairings.state_of("bed-101") is PairingState.PAIRED
            assert pairings.state_of("band-anna") is PairingState.PENDING
        finally:
            await simulator.async_stop()
            await discovery.async_stop()
        return pairings
    pairings = run(main())
    assert pairings.state_of("bed-101") is PairingState.PAIRED    # paired stays paired
    assert pairings.state_of("band-anna") is None                 # left while pending


def test_the_sync_face_refuses_to_block_a_running_loop(run) -> None:
    async def inside() -> None:
        with pytest.raises(RuntimeError, match="await async_discover"):
            discover(0.1)
        assert await async_discover(0.2) == [] or True
    run(inside())


def test_advertisement_parsing_never_trusts_junk() -> None:
    ad = advertisement({b"id": b"bed-1", b"kind": b"bed_exit", b"room": b"room_101",
                        b"api": b"1"}, name=f"bed-1.{SERVICE_TYPE}", service_type=SERVICE_TYPE,
                       addresses=["127.0.0.1"], port=80)
    assert ad.device.id == "bed-1" and ad.port == 80
    for props in ({b"kind": b"bed_exit", b"id": b"robot:1"}, {b"kind": b"bed_exit",
                                                             b"api": b"two"},
                  {b"kind": b"bed_exit", b"api": b"9"}, {b"kind": b"\xff"}):
        with pytest.raises(Exception):
            advertisement(props, name=f"x.{SERVICE_TYPE}", service_type=SERVICE_TYPE)


def test_carefleet_devices_discover_lists_what_simulate_advertises(tmp_path, capsys) -> None:
    # loopback mDNS is shared by everything on this machine: a name of this run's own,
    # and only its rows are judged (another test run may be advertising too)
    device = f"btn-{secrets.token_hex(3)}"
    spec = tmp_path / "sim.yaml"
    spec.write_text("service: http://127.0.0.1:9\nheartbeat: 1h\ndevices:\n"
                    f"  - {{id: {device}, kind: call_button, room: room_201, model: SimCall}}\n")
    simulate = subprocess.Popen([*CARE, "devices", "simulate", str(spec), "--duration", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT)
    try:
        first = simulate.stdout.readline()                  # type: ignore[union-attr]
        assert first.startswith("simulating 1 devices"), first
        code_line = simulate.stdout.readline()              # type: ignore[union-attr]
        assert device in code_line and "code" in code_line
        assert main(["devices", "discover", "--timeout", "1.5", "--json"]) == 0
        rows = [r for r in json.loads(capsys.readouterr().out) if r["id"] == device]
        assert [(r["kind"], r["room"], r["model"]) for r in rows] == \
            [("call_button", "room_201", "SimCall")]
        assert rows[0]["address"].startswith("127.0.0.1:")
        assert main(["devices", "discover", "--timeout", "1.5"]) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[0].split() == ["ID", "KIND", "ROOM", "ADDRESS", "MODEL", "PAIRING"]
        mine = [line.split() for line in table[1:] if line.split()[:1] == [device]]
        assert [row[:3] for row in mine] == [[device, "call_button", "room_201"]]
    finally:
        simulate.terminate()
        simulate.wait(timeout=30)
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  - {id: x, kind: call_button, room: r}\nscript:\n"
                   "  - {after: 1s, device: x, event: fall}\n")
    assert main(["devices", "simulate", str(bad)]) == 2
    assert f"{bad}:4: script[0].event: a call_button does not send 'fall'" in \
        capsys.readouterr().err
