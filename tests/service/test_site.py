"""Site files (``carefleet serve SITE.yaml``): the bundled demo loads; every broken
variant is one ``InputError`` line naming the file, the line and the field; drivers are
only imported by ``resolve_driver``; ``carefleet site check`` exits 0 or 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from carefleet.cli import main
from carefleet.devices.config import DeviceConfig
from carefleet.errors import InputError
from carefleet.messages import LANGUAGES
from carefleet.orchestrator.schedules import MealService, PatrolSchedule
from carefleet.robots.drivers.sim import SimRobot
from carefleet.service.site import (DEFAULT_ACKNOWLEDGE_WITHIN, DEFAULT_RESOLVE_WITHIN,
                                    DEFAULT_TIERS, DEMO_SITE, SIMULATED, DriverSpec,
                                    EscalationPolicy, load_site, resolve_driver, shown_url)
from carefleet.simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
CAREFLEET = ROOT / ".venv" / "bin" / "carefleet"
DEMO_DAY = ROOT / "simulation" / "scenarios" / "demo_day.yaml"
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: A small site with a real (vendor) driver; the broken variants below edit it.
SMALL = """\
name: East wing
ward: demo_ward
fleet:
  profiles:
    tray_robot: {model: TrayRunner T4, trays: 4, capabilities: [meal_delivery, camera]}
    owl: {model: NightOwl P1, capabilities: [patrol, camera]}
  driver_defaults:
    tray_robot: {base_url: "http://127.0.0.1:9000", timeout: 5}
  robots:
    - {id: t1, profile: tray_robot, start: kitchen, driver: "acme_robots.trays:TrayDriver", params: {timeout: 2, serial: T-1}}
    - {id: t2, profile: tray_robot, start: charger_f1, driver: simulated}
    - {id: o1, profile: owl, start: charger_f2, driver: "acme_robots.owl:OwlDriver"}
schedules:
  meals:
    - {name: lunch, at: "12:00"}
  patrols:
    - {name: night, start: "22:00", end: "06:00", checkpoints: [lounge, room_101]}
cameras:
  - {id: cam_203, room: room_203, url: "rtsp://viewer:secret@10.0.0.7:554/stream1"}
  - {id: cam_lounge, room: lounge, url: 0}
store: data/east.db
language: zh
listen: {host: 0.0.0.0, port: 8443}
token_ttl: 12h
alerts:
  tiers: [nurse_on_duty, all_staff]
  acknowledge_within: {high: 45, medium: 2m}
  resolve_within: {low: 1h30m}
devices:
  allow:
    - {id: bed-204, kind: bed_exit, room: room_204}
  heartbeat: {interval: 20s}
"""

CAM = 'url: "rtsp://viewer:secret@10.0.0.7:554/stream1"}'

# name -> (replacements on SMALL, field named, text on the line named, words in the message)
BROKEN = {
    "unknown_top_level_key": ([("language: zh\n", "language: zh\nweather: sunny\n")],
                              "weather", "weather:", "unknown field"),
    "unknown_robot_key": ([("driver: simulated}", "driver: simulated, colour: red}")],
                          "fleet.robots[1].colour", "id: t2", "unknown field"),
    "unknown_alerts_key": ([("  tiers: [nurse_on_duty", "  tier: [nurse_on_duty")],
                           "alerts.tier", "tier:", "unknown field"),
    "driver_without_colon": ([('"acme_robots.owl:OwlDriver"', '"acme_robots.owl.OwlDriver"')],
                             "fleet.robots[2].driver", "id: o1", "package.module:Class"),
    "driver_class_not_an_identifier": ([('"acme_robots.owl:OwlDriver"',
                                         '"acme_robots.owl:Owl-Driver"')],
                                       "fleet.robots[2].driver", "id: o1", "package.module:Class"),
    "driver_module_with_empty_part": ([('"acme_robots.owl:OwlDriver"', '"acme_robots..owl:Owl"')],
                                      "fleet.robots[2].driver", "id: o1", "package.module:Class"),
    "driver_missing": ([(', driver: "acme_robots.owl:OwlDriver"', "")],
                       "fleet.robots[2]", "id: o1", "missing required field 'driver'"),
    "sim_driver_by_class_name": ([('"acme_robots.owl:OwlDriver"',
                                   "carefleet.robots.drivers.sim:SimRobot")],
                                 "fleet.robots[2].driver", "id: o1", "driver: simulated"),
    "params_on_a_simulated_robot": ([("driver: simulated}", "driver: simulated, params: {a: 1}}")],
                                    "fleet.robots[1].params", "id: t2", "no driver parameters"),
    "params_not_a_mapping": ([("params: {timeout: 2, serial: T-1}", "params: [2]")],
                             "fleet.robots[0].params", "id: t1", "expected a mapping"),
    "param_name_not_a_keyword": ([("serial: T-1", "serial number: T-1")],
                                 "fleet.robots[0].params.serial number", "id: t1",
                                 "no parameter name"),
    "driver_defaults_for_unknown_profile": ([("    tray_robot: {base_url", "    tray_bot: {base_url")],
                                            "fleet.driver_defaults.tray_bot", "tray_bot:",
                                            "no profile 'tray_bot'"),
    "unknown_room_for_a_camera": ([("room: room_203", "room: room_999")],
                                  "cameras[0].room", "cam_203", "room_999"),
    "duplicate_camera_id": ([("id: cam_lounge", "id: cam_203")], "cameras[1].id",
                            "room: lounge", "camera id 'cam_203' is used twice"),
    "duplicate_camera_stream": ([("url: 0}", CAM)], "cameras[1].url", "room: lounge",
                                "already shows this stream"),
    "camera_stream_of_unknown_scheme": ([("url: 0}", 'url: "ftp://10.0.0.8/cam"}')],
                                        "cameras[1].url", "room: lounge", "ftp://"),
    "camera_video_file_missing": ([("url: 0}", "url: clips/lounge.mp4}")],
                                  "cameras[1].url", "room: lounge", "no video file"),
    "camera_config_missing": ([("url: 0}", "url: 0, config: cams/lounge.yaml}")],
                              "cameras[1].config", "room: lounge", "no camera file"),
    "unknown_language": ([("language: zh", "language: klingon")], "language", "language:",
                         "'klingon' is not one of"),
    "negative_escalation_time": ([("high: 45,", "high: -45,")],
                                 "alerts.acknowledge_within.high", "acknowledge_within",
                                 "must be a positive time"),
    "escalation_time_not_a_duration": ([("medium: 2m}", "medium: soon}")],
                                       "alerts.acknowledge_within.medium", "acknowledge_within",
                                       "'soon' is not seconds or a duration"),
    "escalation_for_unknown_priority": ([("medium: 2m}", "urgent: 2m}")],
                                        "alerts.acknowledge_within.urgent", "acknowledge_within",
                                        "unknown field"),
    "resolved_before_acknowledged": ([("{low: 1h30m}", "{high: 30s}")],
                                     "alerts.resolve_within.high", "resolve_within",
                                     "cannot be resolved before it is acknowledged"),
    "no_tiers": ([("tiers: [nurse_on_duty, all_staff]", "tiers: []")], "alerts.tiers",
                 "tiers:", "at least one tier"),
    "tier_twice": ([("tiers: [nurse_on_duty, all_staff]", "tiers: [all_staff, all_staff]")],
                   "alerts.tiers", "tiers:", "listed twice"),
    "unknown_ward": ([("ward: demo_ward", "ward: no_such_ward")], "ward", "ward:",
                     "no ward file 'no_such_ward'"),
    "no_ward": ([("ward: demo_ward\n", "")], None, "name:", "missing required field 'ward'"),
    "port_out_of_range": ([("port: 8443", "port: 70000")], "listen.port", "listen:",
                          "at most 65535"),
    "port_not_a_number": ([("port: 8443", "port: http")], "listen.port", "listen:",
                          "expected a number"),
    "port_zero": ([("port: 8443", "port: 0")], "listen.port", "listen:", "at least 1"),
    "bad_listen_host": ([("host: 0.0.0.0", "host: 'my host'")], "listen.host", "listen:",
                        "neither an IP address nor a host name"),
    "zero_token_ttl": ([("token_ttl: 12h", "token_ttl: 0")], "token_ttl", "token_ttl:",
                       "must be a positive time"),
    "store_is_a_url": ([("store: data/east.db", "store: postgresql://db/east")], "store",
                       "store:", "SQLite file path"),
    "store_is_a_folder": ([("store: data/east.db", "store: data")], "store", "store:",
                          "is a folder"),
    # the shared fleet and schedule readers refuse what scenarios refuse
    "unknown_start_place": ([("start: kitchen", "start: attic")], "fleet.robots[0].start",
                            "id: t1", "attic"),
    "duplicate_robot_id": ([("{id: o1,", "{id: t1,")], "fleet.robots[2].id",
                           "profile: owl, start", "used twice"),
    "unknown_device_room": ([("room: room_204}", "room: room_2040}")], "devices.allow[0].room",
                            "id: bed-204", "room_2040"),
    "unknown_checkpoint": ([("checkpoints: [lounge, room_101]", "checkpoints: [lounge, room_1010]")],
                           "schedules.patrols[0].checkpoints", "name: night", "room_1010"),
}


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _write(folder: Path, text: str) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    path = folder / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _broken(folder: Path, name: str) -> tuple[Path, str | None, int, str]:
    replacements, field, needle, words = BROKEN[name]
    text = SMALL
    for old, new in replacements:
        assert text.count(old) == 1, (name, old)
        text = text.replace(old, new)
    return _write(folder, text), field, _line_of(text, needle), words


# -- what loads ---------------------------------------------------------------
def test_the_bundled_demo_site_loads() -> None:
    site = load_site(DEMO_SITE)
    day = load_scenario(DEMO_DAY)
    assert site.ward.name == day.ward.name and site.ward_file == day.ward_file
    assert site.robots == day.robots            # the demo day's fleet, read the same way
    assert site.schedules == day.schedules      # and its meals and patrols
    assert all(spec.target == SIMULATED for spec in site.drivers.values())
    assert list(site.drivers) == [spec.id for spec in site.robots]
    assert site.cameras == ()                 # simulated robots: no camera to be down
    assert site.store == DEMO_SITE.parent / "carefleet.db"
    assert (site.language, site.listen_host, site.listen_port) == ("en", "127.0.0.1", 8000)
    assert site.alerts == EscalationPolicy()
    assert site.token_ttl == 8 * 3600


def test_every_field_of_a_full_site_is_read(tmp_path: Path) -> None:
    site = load_site(_write(tmp_path, SMALL))
    assert site.name == "East wing" and site.source == str(tmp_path / "site.yaml")
    assert [spec.id for spec in site.robots] == ["t1", "t2", "o1"]
    t1, t2, o1 = (site.drivers[robot] for robot in ("t1", "t2", "o1"))
    # fleet defaults of the profile, with the robot's own params over them
    assert t1 == DriverSpec(target="acme_robots.trays:TrayDriver", source=site.source, line=10,
                            field="fleet.robots[0].driver",
                            params={"base_url": "http://127.0.0.1:9000", "timeout": 2,
                                    "serial": "T-1"})
    assert type(t1.params) is dict
    assert t2.simulated and t2.params == {}     # driver_defaults are for real drivers only
    assert o1.params == {}                      # no defaults for its profile
    assert [type(s) for s in site.schedules] == [MealService, PatrolSchedule]
    assert [(c.id, c.room, c.url) for c in site.cameras] == [
        ("cam_203", "room_203", "rtsp://viewer:secret@10.0.0.7:554/stream1"),
        ("cam_lounge", "lounge", "0")]
    assert site.store == tmp_path / "data" / "east.db"
    assert (site.language, site.listen_host, site.listen_port) == ("zh", "0.0.0.0", 8443)
    assert site.token_ttl == 12 * 3600
    assert site.alerts.tiers == ("nurse_on_duty", "all_staff")
    assert site.alerts.acknowledge_within == {**DEFAULT_ACKNOWLEDGE_WITHIN, "high": 45,
                                              "medium": 120}
    assert site.alerts.resolve_within == {**DEFAULT_RESOLVE_WITHIN, "low": 5400}
    assert [(d.id, d.kind.value, d.room) for d in site.devices.allow] == [
        ("bed-204", "bed_exit", "room_204")]
    assert site.devices.heartbeat.interval == 20 and site.devices.discovery is None


def test_a_site_without_optional_sections_gets_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: Tiny\nward: demo_ward\nfleet:\n  profiles: {p: {}}\n"
                  "  robots: [{id: r1, profile: p, start: kitchen, driver: simulated}]\n")
    site = load_site(path)
    assert site.schedules == () and site.cameras == ()
    assert site.devices == DeviceConfig()          # none paired, default rules, no browsing
    assert site.store == tmp_path / "carefleet.db"
    assert site.language == "en" and "en" in LANGUAGES
    assert (site.listen_host, site.listen_port, site.token_ttl) == ("127.0.0.1", 8000, 28800)
    assert site.alerts.tiers == DEFAULT_TIERS
    assert site.alerts.acknowledge_within == {"high": 60, "medium": 180, "low": 900}
    assert site.alerts.resolve_within == {"high": 600, "medium": 1800, "low": 7200}


def test_a_ward_and_files_beside_the_site_file(tmp_path: Path) -> None:
    """``ward:``, a video ``url`` and a camera ``config`` are paths from the site file."""
    shutil.copytree(ROOT / "maps" / "wards", tmp_path / "wards")      # the ward and its grids
    (tmp_path / "wards" / "demo_ward.yaml").rename(tmp_path / "wards" / "east.yaml")
    (tmp_path / "lounge.mp4").write_bytes(b"")
    (tmp_path / "lounge_cam.yaml").write_text("zones: []\n")
    text = SMALL.replace("ward: demo_ward", "ward: wards/east.yaml").replace(
        "url: 0}", "url: lounge.mp4, config: lounge_cam.yaml}")
    site = load_site(_write(tmp_path, text))
    assert site.ward_file == str(tmp_path / "wards" / "east.yaml")
    assert site.cameras[1].url == str(tmp_path / "lounge.mp4")
    assert site.cameras[1].config == tmp_path / "lounge_cam.yaml"


def test_a_broken_camera_config_is_located_in_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "lounge_cam.yaml").write_text("backend: opencv\nfall:\n  colour: red\n")
    path = _write(tmp_path, SMALL.replace("url: 0}", "url: 0, config: lounge_cam.yaml}"))
    with pytest.raises(InputError) as caught:
        load_site(path)
    assert str(caught.value).startswith(f"{tmp_path / 'lounge_cam.yaml'}:")


def test_the_readme_example_site_loads(tmp_path: Path) -> None:
    section = README.split("## Site file format", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    site = load_site(_write(tmp_path, example))
    assert len(site.robots) >= 2 and site.cameras


# -- what is refused ----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_site_file_is_one_located_error(tmp_path: Path, name: str) -> None:
    path, field, line, words = _broken(tmp_path, name)
    with pytest.raises(InputError) as caught:
        load_site(path)
    error, text = caught.value, str(caught.value)
    assert "\n" not in text
    assert words in text, text
    assert error.line == line, text
    assert text.startswith(f"{path}:{line}: "), text
    if field is not None:
        assert error.field == field, text
        assert f":{line}: {field}: " in text


@pytest.mark.parametrize("text, words", [
    ("", "expected a mapping"),
    ("- a\n- b\n", "expected a mapping"),
    ("name: [unclosed\n", "malformed YAML"),
], ids=["empty_file", "top_level_list", "malformed_yaml"])
def test_a_file_that_is_no_site(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        load_site(_write(tmp_path, text))
    assert words in str(caught.value) and str(tmp_path / "site.yaml") in str(caught.value)


# -- drivers ------------------------------------------------------------------
TELEPORT = README.split("## Writing a robot driver", 1)[1].split("```python\n", 1)[1] \
    .split("```", 1)[0]


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A vendor package ``acme_site_test`` on sys.path: the README's driver, a class that
    is no driver, an incomplete driver and a module whose import fails."""
    package = tmp_path / "vendor" / "acme_site_test"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "teleport.py").write_text(TELEPORT + textwrap.dedent("""
        class NotADriver:
            pass

        class HalfDriver(RobotDriver):
            def navigate(self, command_id, place, waypoint):
                return Reply.ACCEPTED

        VERSION = "1.0"
        """))
    (package / "broken.py").write_text("import acme_missing_dependency\n")
    (package / "buggy.py").write_text("raise RuntimeError('no licence key')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "vendor"))
    yield package
    for name in [m for m in sys.modules if m.startswith("acme_site_test")]:
        del sys.modules[name]


def _spec(target: str) -> DriverSpec:
    return DriverSpec(target=target, source="site.yaml", line=12, field="fleet.robots[0].driver")


def test_resolve_driver_imports_a_real_driver_class(vendor: Path) -> None:
    cls = resolve_driver(_spec("acme_site_test.teleport:TeleportBot"))
    assert cls.__name__ == "TeleportBot" and cls.__module__ == "acme_site_test.teleport"
    assert resolve_driver(_spec(SIMULATED)) is SimRobot


@pytest.mark.parametrize("target, words", [
    ("acme_not_installed.driver:Bot", "no module 'acme_not_installed' (is the driver's package installed?)"),
    ("acme_site_test.nowhere:Bot", "no module 'acme_site_test.nowhere'"),
    ("acme_site_test.broken:Bot", "importing 'acme_site_test.broken' failed: No module named "
                                  "'acme_missing_dependency'"),
    ("acme_site_test.buggy:Bot", "importing 'acme_site_test.buggy' failed: RuntimeError: no licence key"),
    ("acme_site_test.teleport:Missing", "module 'acme_site_test.teleport' has no 'Missing'"),
    ("acme_site_test.teleport:VERSION", "is not a class"),
    ("acme_site_test.teleport:NotADriver", "is not a RobotDriver subclass"),
    ("acme_site_test.teleport:HalfDriver", "does not implement dock, perform, status, stop"),
], ids=["missing_module", "missing_submodule", "missing_dependency", "import_fails",
        "missing_class", "not_a_class", "not_a_driver", "abstract_driver"])
def test_resolve_driver_refuses_with_a_located_error(vendor: Path, target: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve_driver(_spec(target))
    text = str(caught.value)
    assert text.startswith("site.yaml:12: fleet.robots[0].driver: ") and words in text, text
    assert "\n" not in text


def test_loading_a_site_imports_no_driver(tmp_path: Path) -> None:
    """A site file is checkable where the vendors' packages are not installed."""
    site = load_site(_write(tmp_path, SMALL))
    assert "acme_robots" not in sys.modules
    with pytest.raises(InputError, match=r"site.yaml:10: fleet.robots\[0\].driver: no module"):
        resolve_driver(site.drivers["t1"])


def test_passwords_in_stream_urls_are_not_shown() -> None:
    assert shown_url("rtsp://viewer:secret@10.0.0.7:554/s1") == "rtsp://viewer:***@10.0.0.7:554/s1"
    assert shown_url("rtsp://10.0.0.7/s1") == "rtsp://10.0.0.7/s1"
    assert shown_url("0") == "0"


# -- carefleet site check -----------------------------------------------------
def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CAREFLEET), "site", "check", *args], capture_output=True,
                          text=True, timeout=120)


def test_site_check_summarises_a_valid_site(tmp_path: Path) -> None:
    run = _check(str(_write(tmp_path, SMALL)))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    text = " ".join(run.stdout.split())
    for words in ("site 'East wing' is valid", "Ward 'Sunrise House, east wing'",
                  "3 robots: t1 (TrayRunner T4, acme_robots.trays:TrayDriver)",
                  "t2 (TrayRunner T4, simulated)", "2 schedules: lunch (meals at 12:00)",
                  "night (patrol from 22:00, to 06:00)",
                  "cam_203 -> room_203 (rtsp://viewer:***@10.0.0.7:554/stream1)",
                  f"Store {tmp_path / 'data' / 'east.db'}", "language zh",
                  "http://0.0.0.0:8443", "nurse_on_duty -> all_staff"):
        assert words in text, text
    assert "secret" not in run.stdout
    assert "\n\n" not in run.stdout.strip()          # one paragraph


def test_site_check_takes_the_bundled_demo_by_name() -> None:
    run = _check("demo_site")
    assert run.returncode == 0, run.stderr
    assert str(DEMO_SITE) in " ".join(run.stdout.split())


@pytest.mark.parametrize("name", ["duplicate_camera_id", "bad_listen_host", "unknown_ward"])
def test_site_check_exits_2_with_one_line_on_a_broken_site(tmp_path: Path, name: str) -> None:
    path, field, line, words = _broken(tmp_path, name)
    run = _check(str(path))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"carefleet: error: {path}:{line}: {field}: ")
    assert words in run.stderr and "Traceback" not in run.stderr


def test_site_check_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    run = _check(str(tmp_path / "nowhere.yaml"))
    assert run.returncode == 2
    assert run.stderr == f"carefleet: error: {tmp_path / 'nowhere.yaml'}: file not found\n"


def test_site_check_drivers_imports_them(tmp_path: Path, capsys) -> None:
    """``--drivers`` also imports each driver: the vendor package missing is exit 2."""
    path = _write(tmp_path, SMALL)
    assert main(["site", "check", str(path)]) == 0
    capsys.readouterr()
    assert main(["site", "check", "--drivers", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"carefleet: error: {path}:10: fleet.robots[0].driver: no module "
                          "'acme_robots'") and err.count("\n") == 1
