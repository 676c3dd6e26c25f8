"""Interoperability with an independent mDNS implementation: avahi.

Our own ``avahi-daemon`` runs on ``lo`` only (``allow-interfaces=lo``, IPv4), against a
private D-Bus bus (``dbus-daemon`` with a config of our own, its socket in a temp dir),
as root, without touching the machine's own bus or daemon. Then:

- ``avahi-publish -s`` publishes a device and CareFleet's discovery finds it, with its
  TXT fields, and proposes it to pairing;
- ``avahi-browse -rtp`` sees (and resolves) what CareFleet's simulators advertise.

Skipped, with the reason, when avahi cannot run here (not root, not installed, or the
machine's own avahi-daemon holds its pid file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carefleet.devices.discovery import Discovery
from carefleet.devices.model import Advertisement, Device
from carefleet.devices.pairing import Pairings, PairingState
from carefleet.devices.simulators import SimSpec, Simulator
from conftest import until

TOOLS = ("dbus-daemon", "avahi-daemon", "avahi-publish", "avahi-browse")
DBUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
AVAHI_CONFIG = """[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=lo
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
[rlimits]
"""


class Lines:
    """A process's output, read on a thread so it never blocks, searchable with a deadline."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process, self.lines = process, []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:          # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def wait(self, text: str, what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            if self.process.poll() is not None and not any(text in x for x in self.lines):
                break
            time.sleep(0.02)
        raise AssertionError(f"{what}: no '{text}' in:\n" + "\n".join(self.lines))


def _why_not() -> str | None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install avahi-daemon avahi-utils dbus)"
    if os.geteuid() != 0:
        return "avahi-daemon must start as root (it is skipped for other users)"
    pid_file = Path("/run/avahi-daemon/pid")
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            return None                               # stale: avahi-daemon removes it
        return f"the machine's own avahi-daemon runs (pid {pid}); the test needs its own"
    return None


@pytest.fixture(scope="module")
def avahi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private bus and an avahi-daemon on lo; yields the environment for avahi tools."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("avahi")
    bus = folder / "bus"
    (folder / "dbus.conf").write_text(DBUS_CONFIG.format(socket=bus))
    (folder / "avahi.conf").write_text(AVAHI_CONFIG)
    started: list[subprocess.Popen] = []
    try:
        dbus = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1",
                                 f"--config-file={folder / 'dbus.conf'}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(dbus)
        address = dbus.stdout.readline().strip()       # type: ignore[union-attr]
        if not address.startswith("unix:"):
            pytest.skip(f"the private D-Bus did not start: {address!r}")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
        daemon = subprocess.Popen(["avahi-daemon", "-f", str(folder / "avahi.conf"),
                                   "--no-drop-root", "--no-chroot", "--no-rlimits"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=env)
        started.append(daemon)
        log = Lines(daemon)
        try:
            log.wait("Server startup complete", "avahi-daemon on lo")
        except AssertionError as error:
            pytest.skip(f"avahi-daemon did not start here: {error}")
        assert any("lo.IPv4" in line for line in log.lines), log.lines
        yield env
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_avahi_publishes_a_device_carefleet_discovers_and_proposes(avahi, run) -> None:
    publish = subprocess.Popen(
        ["avahi-publish", "-s", "Avahi bed 104", "_carefleet._tcp", "7104",
         "id=bed-104", "kind=bed_exit", "room=room_104", "model=AvahiBed", "firmware=0.8",
         "api=1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=avahi)
    try:
        Lines(publish).wait("Established under name", "avahi-publish")

        async def main() -> tuple[dict[str, Advertisement], Pairings]:
            found: dict[str, Advertisement] = {}
            pairings = Pairings([Device(id="bed-104", kind="bed_exit", room="room_104")])

            def on_found(advert: Advertisement) -> None:
                found[advert.device.id] = advert
                pairings.discovered(advert, 0.0)
            discovery = Discovery(on_found)                  # bound to 127.0.0.1
            await discovery.async_start()
            try:
                await until(lambda: "bed-104" in found, "avahi's device found", 20)
            finally:
                await discovery.async_stop()
            return found, pairings
        found, pairings = run(main())
    finally:
        publish.terminate()
        publish.wait(timeout=10)
    advert = found["bed-104"]
    assert advert.name == "Avahi bed 104._carefleet._tcp.local."
    assert (advert.device.kind.value, advert.device.room, advert.device.model,
            advert.device.firmware) == ("bed_exit", "room_104", "AvahiBed", "0.8")
    assert advert.port == 7104 and "127.0.0.1" in advert.addresses
    assert pairings.state_of("bed-104") is PairingState.PAIRED       # allow-listed


def test_avahi_browse_sees_what_carefleets_simulators_advertise(avahi, run) -> None:
    specs = [SimSpec(device=Device(id="btn-105", kind="call_button", room="room_105",
                                   model="SimCall")),
             SimSpec(device=Device(id="band-bo", kind="wearable", resident="bo"))]

    async def main() -> list[str]:
        simulator = Simulator(specs, "http://127.0.0.1:9")
        await simulator.async_start(claim=False, heartbeats=False)
        try:
            rows: list[str] = []

            def browse() -> bool:
                done = subprocess.run(["avahi-browse", "-rtp", "_carefleet._tcp"],
                                      capture_output=True, text=True, env=avahi, timeout=30)
                rows[:] = [r for r in done.stdout.splitlines() if r.startswith("=;")]
                return {"btn-105", "band-bo"} <= {r.split(";")[3] for r in rows}
            await until(browse, "avahi-browse to resolve both simulated devices", 30)
            return rows
        finally:
            await simulator.async_stop()
    rows = run(main())
    resolved = {fields[3]: fields for fields in (r.split(";") for r in rows)}
    button = resolved["btn-105"]
    assert button[1:3] == ["lo", "IPv4"] and button[4] == "_carefleet._tcp"
    assert button[7] == "127.0.0.1" and int(button[8]) > 0
    txt = button[9]
    for field in ('"id=btn-105"', '"kind=call_button"', '"room=room_105"', '"model=SimCall"',
                  '"api=1"'):
        assert field in txt, txt
    assert '"resident=bo"' in resolved["band-bo"][9]
