"""The PNG picture and the ``carefleet map`` commands (exit codes, one-line messages)."""

from __future__ import annotations

import pytest

from carefleet.cli import main
from carefleet.maps import DEMO_WARD
from carefleet.maps.render import render_ward, render_ward_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_render_writes_a_plausible_png(demo_ward, tmp_path):
    out = render_ward(demo_ward, tmp_path / "ward.png", robots={"meal-1": ("F1", 30.0, 10.0)})
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert 50_000 < len(data) < 5_000_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1000 and height > 800


def test_render_png_bytes_without_grid(tiny):
    assert render_ward_png(tiny).startswith(PNG_MAGIC)


def test_check_ok(capsys):
    assert main(["map", "check", str(DEMO_WARD)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (f"{DEMO_WARD}: ok: 2 floors, 84 places (32 resident rooms), "
                   "40 waypoints, 41 lanes, 1 lifts")


def test_check_lists_every_error(write_ward, capsys):
    from ward_texts import TINY
    path = write_ward(TINY.replace("kind: kitchen", "kind: kitchn").replace("x: 3,", "x: .nan,"))
    assert main(["map", "check", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path}:") for line in lines)
    assert captured.out == ""


def test_render_command(tmp_path, write_ward, capsys):
    out = tmp_path / "w.png"
    assert main(["map", "render", str(DEMO_WARD), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert main(["map", "render", str(write_ward("ward: [\n")), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "malformed YAML" in err


def test_route_command(capsys):
    assert main(["map", "route", str(DEMO_WARD), "kitchen", "room_215", "--speed", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "lift lift_a" in out and "distance" in out and "time" in out
    assert main(["map", "route", str(DEMO_WARD), "kitchen", "room_101",
                 "--closed", "wing_corridor_f1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("carefleet: error: no route from 'kitchen' to 'room_101' "
                   "with wing_corridor_f1 closed")
    assert main(["map", "route", str(DEMO_WARD), "kitchen", "room_999"]) == 2
    assert "unknown place or waypoint 'room_999'" in capsys.readouterr().err


@pytest.mark.parametrize("speed", ["0", "-1"])
def test_route_command_refuses_bad_speed(speed, capsys):
    assert main(["map", "route", str(DEMO_WARD), "kitchen", "room_215", "--speed", speed]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
