"""The PNG picture and the ``carefleet map`` commands (exit codes, one-line messages)."""

from __future__ import annotations

import pytest

from carefleet.cli import main
from carefleet.maps import DEMO_WARD
from carefleet.maps.render import render_ward, render_ward_png, ward_figure

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


def _lift_artists(figure, lift_id: str) -> list:
    return figure.findobj(lambda artist: artist.get_gid() == f"lift:{lift_id}")


def test_render_draws_each_lift_on_every_floor_it_serves_and_the_shaft_between(demo_ward):
    import matplotlib.pyplot as plt
    from matplotlib.patches import ConnectionPatch

    figure = ward_figure(demo_ward)
    try:
        artists = _lift_artists(figure, "lift_a")
        landings = {demo_ward.waypoints[w].floor: demo_ward.waypoints[w]
                    for w in demo_ward.lifts["lift_a"].stops.values()}
        panels = {ax.get_title(loc="left"): ax for ax in figure.axes}
        for floor_id, landing in landings.items():
            ax = next(a for t, a in panels.items() if t.endswith(f"({floor_id})"))
            markers = [a for a in artists if getattr(a, "axes", None) is ax
                       and hasattr(a, "get_xydata")]
            assert [tuple(m.get_xydata()[0]) for m in markers] == [(landing.x, landing.y)]
            labels = [a.get_text() for a in artists if a.axes is ax and hasattr(a, "get_text")]
            assert any("lift_a" in label for label in labels)
        shafts = [a for a in artists if isinstance(a, ConnectionPatch)]
        assert len(shafts) == len(landings) - 1       # one shaft between each pair of floors
        legend = [t.get_text() for t in figure.legends[0].get_texts()]
        assert "lift (shaft between floors)" in legend
    finally:
        plt.close(figure)


def test_a_ward_without_lifts_renders_without_lift_artists(write_ward):
    import matplotlib.pyplot as plt
    from carefleet.maps import load_ward

    figure = ward_figure(load_ward(write_ward("""\
        ward: Bungalow
        floors: [{id: G, name: Ground}]
        waypoints:
          - {id: a, floor: G, x: 0, y: 0}
          - {id: b, floor: G, x: 4, y: 0}
        lanes: [{from: a, to: b}]
        places:
          - {id: kitchen, kind: kitchen, floor: G, waypoint: a}
          - {id: room_1, kind: resident_room, floor: G, waypoint: b}
        """)))
    try:
        assert figure.findobj(lambda a: str(a.get_gid()).startswith("lift:")) == []
        assert "lift (shaft between floors)" not in [
            t.get_text() for t in figure.legends[0].get_texts()]
    finally:
        plt.close(figure)


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


@pytest.mark.parametrize("command", [["check"], ["render", "-o", "{dir}/w.png"],
                                     ["route", "kitchen", "room_1"]])
def test_deeply_nested_ward_file_is_one_line_and_exit_2(write_ward, tmp_path, capsys, command):
    path = write_ward("ward:\n  " + "[" * 100_000)
    action, *rest = command
    assert main(["map", action, str(path), *[a.format(dir=tmp_path) for a in rest]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"{path}:2:") or err.startswith(f"carefleet: error: {path}:2:")
    assert "nested too deeply" in err


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


@pytest.mark.parametrize("speed", ["0", "-1", "inf", "-inf", "nan", "1e999"])
def test_route_command_refuses_bad_speed(speed, capsys):
    assert main(["map", "route", str(DEMO_WARD), "kitchen", "room_215", f"--speed={speed}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("carefleet: error: --speed:") and "positive finite" in err


def test_route_command_refuses_an_unknown_closure(capsys):
    code = main(["map", "route", str(DEMO_WARD), "kitchen", "room_215",
                 "--closed", "hall_f1", "--closed", "east_corridr_f1", "--closed", "lift_b"])
    assert code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("carefleet: error: --closed:")
    assert "'east_corridr_f1'" in err and "'lift_b'" in err and "'hall_f1'" not in err
    assert "lane id, corridor name or lift id" in err
    assert "east_corridor_f1" in err and "lift_a" in err     # the valid names are listed


def test_route_command_accepts_a_lane_id_as_closure(capsys):
    lane = "f2_hall_3-f2_east_1"
    from carefleet.maps import load_ward
    assert any(l.id == lane for l in load_ward(DEMO_WARD).lanes)
    assert main(["map", "route", str(DEMO_WARD), "kitchen", "room_215", "--closed", lane]) == 0
    assert f"lane {lane}" not in capsys.readouterr().out
