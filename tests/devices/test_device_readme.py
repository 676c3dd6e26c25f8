"""The README's "Ward devices" examples are loaded and run, so they cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from carefleet.errors import InputError
from carefleet.devices import protocol
from carefleet.devices.config import load_device_config
from carefleet.devices.model import Device
from carefleet.devices.protocol import Accepted, Verifier
from carefleet.devices.rules import load_rules
from carefleet.devices.simulators import load_plan
from conftest import ROOT, SITE

SECTION = (ROOT / "README.md").read_text(encoding="utf-8").split("## Ward devices", 1)[1] \
    .split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return [part.split("```", 1)[0] for part in SECTION.split(f"```{language}\n")[1:]]


def test_the_devices_section_example_loads(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("yaml") if b.startswith("devices:")]
    path = tmp_path / "site-devices.yaml"
    path.write_text(example)
    config = load_device_config(path, SITE.ward)
    assert [d.id for d in config.allow] == ["bed-101", "door-f1", "band-anna"]
    assert config.allow[2].room == "room_101" and config.discovery == ("127.0.0.1",)
    path.write_text(example.replace("resident: anna}", "resident: ana}"))
    with pytest.raises(InputError) as caught:
        load_device_config(path, SITE.ward)
    assert str(caught.value) == (f"{path}:7: devices.allow[2].resident: no resident 'ana' "
                                 "under devices.residents")


def test_the_rules_example_loads(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("yaml") if b.startswith("version: 1")]
    path = tmp_path / "rules.yaml"
    path.write_text(example)
    (rule,) = load_rules(path, SITE.ward)
    assert rule.name == "bed_exit_at_night" and rule.cooldown == 900 and rule.dedupe == 60


def test_the_simulation_spec_example_loads(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("yaml") if b.startswith("service:")]
    path = tmp_path / "sim.yaml"
    path.write_text(example)
    plan = load_plan(path)
    assert [s.device.id for s in plan.devices] == ["bed-101", "band-anna"]
    assert [(s.after, s.action or s.event) for s in plan.script] == [
        (5.0, "bed_exit"), (20.0, "vitals"), (30.0, "die"), (40.0, "battery")]


def test_the_signing_example_signs_an_event_the_verifier_accepts() -> None:
    (example,) = blocks("python")
    key = bytes(range(32))
    namespace = {"KEY": key}
    exec(example, namespace)
    bed = Device(id="bed-101", kind="bed_exit", room="room_101")
    verdict = Verifier({bed.id: (bed, key)}.get, set(SITE.ward.places)).verify(
        namespace["payload"], namespace["headers"][protocol.SIGNATURE_HEADER],
        namespace["body"]["at"])
    assert isinstance(verdict, Accepted) and verdict.message.room == "room_101"


def test_the_refusal_table_is_the_codes_table() -> None:
    rows = [line.split("|")[1:3] for line in SECTION.splitlines()
            if line.startswith("| `") and line.split("|")[2].strip().isdigit()]
    table = {code.strip().strip("`"): int(status) for code, status in rows}
    assert table == {reason.value: reason.status for reason in protocol.Refusal}
