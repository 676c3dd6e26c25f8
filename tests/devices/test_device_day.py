"""A simulated night with ward devices (``simulation/scenarios/devices_night.yaml``): the
real pairing, verifier, rules and health watch on the simulation's virtual clock meet
the scenario's expectations, and the day's report lists device events, refusals and
alert response times."""

from __future__ import annotations

from pathlib import Path

import pytest

from carefleet.errors import InputError
from carefleet.simulation.kpi import compute_kpis
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation
from conftest import ROOT

NIGHT = ROOT / "simulation" / "scenarios" / "devices_night.yaml"


@pytest.fixture(scope="module")
def night():
    scenario = load_scenario(NIGHT)
    simulation = Simulation(scenario)
    try:
        result = simulation.run()
        yield scenario, result, result.devices
    finally:
        simulation.close()


def test_the_night_meets_its_expectations(night) -> None:
    scenario, result, _ = night
    kpis = compute_kpis(result)
    failed = [(e.name, e.judge(kpis[e.kpi])) for e in scenario.expectations
              if not e.judge(kpis[e.kpi])[0]]
    assert failed == []
    device_tasks = sorted((t["kind"], t["requested_by"], t["state"]) for t in result.tasks
                          if t["kind"] != "patrol")
    assert device_tasks == [("fall_response", "band-anna", "completed"),
                            ("go_to", "device:bed-101", "completed"),     # once: de-duplicated
                            ("go_to", "device:btn-104", "completed")]


def test_the_report_lists_device_events_refusals_and_alert_response_times(night) -> None:
    _, _, report = night
    accepted = [(e["device"], e["kind"], e.get("fired"), e.get("suppressed"))
                for e in report["events"] if e["accepted"] and e["kind"] != "health"]
    assert accepted == [
        ("bed-101", "bed_exit", ["bed_exit_at_night"], []),
        ("bed-101", "bed_exit", [], ["bed_exit_at_night:dedupe"]),
        ("bed-101", "bed_return", [], []),
        ("btn-104", "call_button", ["call_button"], []),
        ("band-anna", "location", [], []),
        ("band-anna", "fall", ["wearable_fall_or_sos"], []),
        ("door-f1", "door_open", ["exit_door_at_night"], []),
        ("band-bo", "vitals", ["vitals_out_of_range"], [])]
    health = [(e["device"], e["health"]) for e in report["events"] if e["kind"] == "health"]
    assert ("bed-105", "silent") in health and ("band-bo", "battery_low") in health
    assert report["devices"]["bed-105"] == "silent"
    assert report["refusals"] == {"replay": 1, "spoofed": 2}
    # staff told: bed exit, exit door, vitals, a silent mat, a flat band, two refusals
    # (the second spoof is the same reason from the same device: not told again)
    assert report["posted"]["DeviceEvent:device_alert"] == 7
    assert report["posted"]["FallDetected"] == 1
    keys = {key for key, _, _ in report["alerts"]}
    assert {"call_button", "fall_detected"} <= keys
    response = report["alert_response"]
    assert response["high"]["resolved"]["median_s"] == 150.0      # the nurse's delay
    assert {"device_bed_exit", "device_exit_door", "device_vitals", "device_silent",
            "device_battery_low", "device_refused"} <= keys


def test_a_device_happening_is_checked_against_the_devices(tmp_path: Path) -> None:
    text = NIGHT.read_text().replace("device: btn-104, event: call_button",
                                     "device: btn-104, event: fall")
    path = tmp_path / "night.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.field == "events[3].event"
    assert "a call_button does not send 'fall'" in caught.value.message
    path.write_text(NIGHT.read_text().replace("device: band-bo, level", "device: band-x, level"))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert "no device 'band-x' under devices.allow" in str(caught.value)
