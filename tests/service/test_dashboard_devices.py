"""The dashboard's devices view, in a real headless Chromium against a real ``carefleet
serve`` whose site has a ``devices:`` section, with real simulated devices
(``carefleet devices simulate``) advertising on 127.0.0.1 and signing their events.

An admin sees the paired devices with their health, pairs a waiting device with the code
it shows and unpairs it again; refusals and the rules in force are on the page; a viewer
is offered none of the admin's controls; in Chinese no English is left. Loopback mDNS is
shared by every run on the machine, so this run's devices have names of their own and
only their rows are judged.
"""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from browser_helpers import (WAIT, english_left, expect, have_chromium, log_in, screenshot,
                             serving)

from carefleet.service.site import DEMO_SITE

pytestmark = pytest.mark.skipif(not have_chromium(), reason="chromium or playwright is not installed")

TAG = secrets.token_hex(3)
BED, BUTTON = f"bed-{TAG}", f"btn-{TAG}"


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serving.Served]:
    """The demo site with devices: one allow-listed bed mat, discovery on 127.0.0.1, and
    heartbeats every 2 s (a device that misses two is silent)."""
    folder = tmp_path_factory.mktemp("devices-dashboard")
    site = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")) | {"devices": {
        "discovery": {"interfaces": ["127.0.0.1"]},
        "heartbeat": {"interval": "2s", "grace": "1s", "missed": 2},
        "allow": [{"id": BED, "kind": "bed_exit", "room": "room_101"}]}}
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False), encoding="utf-8")
    store = folder / "ward.db"
    for name, role in (("ada", "admin"), ("vic", "viewer")):
        serving.add_user(store, name, role)
    served = serving.start_serve(store, str(path))
    for name in ("ada", "vic"):
        served.login(name)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def devices(ward: serving.Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``carefleet devices simulate``: the listed mat and an unlisted call button, beating."""
    spec = tmp_path_factory.mktemp("simulated") / "devices.yaml"
    spec.write_text(yaml.safe_dump({"service": ward.url, "heartbeat": "2s", "devices": [
        {"id": BED, "kind": "bed_exit", "room": "room_101"},
        {"id": BUTTON, "kind": "call_button", "room": "room_104"}]}), encoding="utf-8")
    process = subprocess.Popen([*serving.CARE, "devices", "simulate", str(spec), "--duration", "600"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    codes = {}
    first = process.stdout.readline()                      # type: ignore[union-attr]
    assert first.startswith("simulating 2 devices"), first
    for _ in range(2):
        line = process.stdout.readline().split()           # type: ignore[union-attr]
        codes[line[0]] = line[-1]
    yield {"process": process, "codes": codes}
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def open_devices(page, ward: serving.Served, user: str) -> None:
    log_in(page, ward.url, user)
    page.click('#tabs [data-view="devices"]')
    expect(page.locator("#rule-rows tr").first).to_be_visible(timeout=WAIT)


def test_an_admin_sees_health_pairs_by_code_and_unpairs(ward, devices, page, tmp_path: Path) -> None:
    open_devices(page, ward, "ada")
    bed = page.locator(f'#device-rows tr[data-device="{BED}"]')
    expect(bed).to_have_attribute("data-health", "ok", timeout=WAIT)      # listed: paired when seen
    expect(bed).to_contain_text("Bed-exit sensor")
    expect(bed).to_contain_text("101")
    expect(page.locator("#rule-rows tr")).to_have_count(5)                 # the bundled rules
    expect(page.locator('#rule-rows tr[data-rule="bed_exit_at_night"]')).to_contain_text(
        "between 22:00 and 06:00")

    waiting = page.locator(f'#pending-rows tr[data-device="{BUTTON}"]')
    expect(waiting).to_contain_text("needs the code it shows", timeout=WAIT)
    waiting.locator("input[name=code]").fill(devices["codes"][BUTTON])
    waiting.locator("button.pair").click()
    expect(page.locator("#pair-status")).to_contain_text(BUTTON)
    button = page.locator(f'#device-rows tr[data-device="{BUTTON}"]')
    expect(button).to_have_attribute("data-health", "ok", timeout=WAIT)   # the device claimed
    expect(waiting).to_have_count(0)
    screenshot(page, "dashboard-devices", tmp_path, full_page=True)

    # an event in the mat's name without its signature: refused, counted, on the page
    answer = httpx.post(f"{ward.url}/api/devices/events", timeout=30, json={
        "v": 1, "device": BED, "kind": "bed_exit", "room": "room_101", "at": time.time(),
        "nonce": secrets.token_hex(8), "data": {}})
    assert 400 <= answer.status_code < 500 and answer.json()["error"]["code"] == "unsigned"
    expect(page.locator("#refused-summary")).to_contain_text(re.compile(r"unsigned: [1-9]"),
                                                             timeout=WAIT)

    page.once("dialog", lambda dialog: dialog.accept())
    button.locator("button.unpair").click()
    expect(page.locator("#pair-status")).to_contain_text("Unpaired")
    expect(button).to_have_count(0, timeout=WAIT)
    listing = ward.clients["ada"].get("/api/devices").json()
    assert BUTTON in {d["id"] for d in listing["unpaired"]}


def test_a_device_that_stops_beating_shows_silent(ward, devices, page) -> None:
    devices["process"].send_signal(signal.SIGKILL)          # no goodbye: it just stops
    devices["process"].wait(timeout=30)
    open_devices(page, ward, "ada")
    expect(page.locator(f'#device-rows tr[data-device="{BED}"]')).to_have_attribute(
        "data-health", "silent", timeout=WAIT)
    expect(page.locator("#dev-summary")).to_contain_text(re.compile(r"[1-9]\d* need attention"))


def test_a_viewer_reads_but_is_offered_no_pairing(ward, devices, page) -> None:
    open_devices(page, ward, "vic")
    expect(page.locator(f'#device-rows tr[data-device="{BED}"]')).to_be_visible(timeout=WAIT)
    for control in ("#device-rows button", "#pending-rows button", "#pending-rows input"):
        expect(page.locator(control)).to_have_count(0)
    expect(page.locator(".hint[data-needs=manage_devices]")).to_be_hidden()


def test_in_zh_the_devices_view_has_no_english_left(ward, devices, page) -> None:
    open_devices(page, ward, "ada")
    expect(page.locator(f'#device-rows tr[data-device="{BED}"]')).to_be_visible(timeout=WAIT)
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#dev-title")).to_have_text("病区设备")
    expect(page.locator(f'#device-rows tr[data-device="{BED}"]')).to_contain_text("离床传感器")
    assert english_left(page) == []
    page.click("#lang")
