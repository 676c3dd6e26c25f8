"""Camera configuration: defaults, overrides, and located errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from carefleet.errors import InputError
from carefleet.vision.config import default_config, load_camera_config


def test_the_packaged_defaults_load_and_are_consistent():
    config = default_config()
    assert config.backend == "auto" and config.zones == ()
    assert config.fall.recover_height_ratio > config.fall.down_height_ratio


def test_a_camera_file_overrides_only_what_it_names(write_text):
    config = load_camera_config(write_text("""\
        camera_id: ward-3
        process: {fps: 10}
        fall: {inactivity_s: 30}
        zones:
          - name: bed 1
            kind: bed
            polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 0.9], [0.1, 0.9]]
        """))
    defaults = default_config()
    assert config.camera_id == "ward-3" and config.fps == 10 and config.width == defaults.width
    assert config.fall.inactivity_s == 30
    assert config.fall.min_descent == defaults.fall.min_descent
    assert config.zones[0].contains(0.3, 0.7) and not config.zones[0].contains(0.8, 0.7)


def test_an_empty_file_is_the_defaults(write_text):
    assert load_camera_config(write_text("")) == default_config()


@pytest.mark.parametrize("text, where, message", [
    ("fall: {min_descnt: 0.3}\n", "camera.yaml:1: fall.min_descnt", "unknown field"),
    ("process:\n  fps: 0\n", "camera.yaml:2: process.fps", "must be greater than 0"),
    ("process:\n  width: 5000\n", "camera.yaml:2: process.width", "at most 1920"),
    ("backend: gpu\n", "camera.yaml:1: backend", "not one of: opencv, pose, auto"),
    ("fall:\n  recover_height_ratio: 0.3\n", "camera.yaml:2: fall.recover_height_ratio",
     "greater than down_height_ratio"),
    ("person: {motion_threshold: fast}\n", "camera.yaml:1: person.motion_threshold",
     "expected a number"),
    ("zones:\n  - {name: bed, kind: bed, polygon: [[0, 0], [1, 0]]}\n",
     "camera.yaml:2: zones[0].polygon", "at least 3"),
    ("zones:\n  - {name: bed, kind: bed, polygon: [[0, 0], [1, 0], [2, 1]]}\n",
     "camera.yaml:2: zones[0].polygon[2]", "both in 0..1"),
    ("zones:\n  - {name: bed, kind: bath, polygon: [[0, 0], [1, 0], [1, 1]]}\n",
     "camera.yaml:2: zones[0].kind", "not one of"),
    ("fall: [1, 2\n", "camera.yaml:2", "malformed YAML"),
])
def test_mistakes_are_one_located_error(write_text, text, where, message):
    path = write_text(text)
    with pytest.raises(InputError) as caught:
        load_camera_config(path)
    assert str(caught.value).startswith(str(path.parent / where))
    assert message in str(caught.value)


@pytest.mark.parametrize("text", ["[" * 100_000, "fall: " + "{a: " * 50_000,
                                  "".join(" " * i + f"k{i}:\n" for i in range(1500))])
def test_deeply_nested_yaml_is_one_located_error(write_text, text):
    path = write_text(text)
    with pytest.raises(InputError, match="nested too deeply") as caught:
        load_camera_config(path)
    assert caught.value.source == str(path) and caught.value.line is not None
    assert "\n" not in str(caught.value)


def test_watch_with_a_deeply_nested_config_is_one_line_and_exit_2(write_text, capsys):
    from carefleet.cli import main

    path = write_text("process:\n  fps: " + "[" * 100_000)
    assert main(["vision", "watch", "0", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"carefleet: error: {path}:2:") and "nested too deeply" in err
    assert len(err.splitlines()) == 1


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_camera_config(tmp_path / "nope.yaml")


def test_the_pose_backend_has_its_own_fall_thresholds_over_the_common_ones(write_text):
    defaults = default_config()
    assert defaults.fall_for("opencv") == defaults.fall
    assert defaults.fall_for("pose").min_descent_speed == 0.6 != defaults.fall.min_descent_speed
    config = load_camera_config(write_text("""\
        fall: {min_descent: 0.45}
        pose:
          fall: {min_descent_speed: 0.7}
        """))
    assert config.pose_fall.min_descent_speed == 0.7 and config.pose_fall.min_descent == 0.45
    assert config.fall.min_descent_speed == defaults.fall.min_descent_speed
    assert load_camera_config(write_text("fall: {inactivity_s: 30}\n")).pose_fall == replace(
        defaults.pose_fall, inactivity_s=30)


@pytest.mark.parametrize("text, where, message", [
    ("pose: {fall: {min_descnt: 0.3}}\n", "camera.yaml:1: pose.fall.min_descnt", "unknown field"),
    ("pose:\n  person: {}\n", "camera.yaml:2: pose.person", "unknown field"),
    ("pose:\n  fall:\n    min_descent_speed: 0\n", "camera.yaml:3: pose.fall.min_descent_speed",
     "must be greater than 0"),
    ("pose:\n  fall:\n    min_descent_speed: quick\n",
     "camera.yaml:3: pose.fall.min_descent_speed", "expected a number"),
    ("pose:\n  fall:\n    down_height_ratio: 0.9\n",
     "camera.yaml:3: pose.fall.recover_height_ratio",
     "greater than down_height_ratio"),
])
def test_pose_threshold_mistakes_are_one_located_error(write_text, text, where, message):
    path = write_text(text)
    with pytest.raises(InputError) as caught:
        load_camera_config(path)
    assert str(caught.value).startswith(str(path.parent / where))
    assert message in str(caught.value)


def test_the_mounting_is_unknown_by_default_and_read_when_given(write_text):
    assert not default_config().mounting.known
    config = load_camera_config(write_text("mounting: {height_m: 2.4, tilt_deg: 20}\n"))
    assert config.mounting.known and config.mounting.height_m == 2.4
    assert config.mounting.vfov_deg == default_config().mounting.vfov_deg


@pytest.mark.parametrize("text, where, message", [
    ("mounting: {height_m: 2.4}\n", "mounting.tilt_deg", "give both height_m and tilt_deg"),
    ("mounting: {height_m: 20, tilt_deg: 10}\n", "mounting.height_m", "at most 8"),
    ("mounting: {heigth_m: 2}\n", "mounting.heigth_m", "unknown field"),
    ("mounting: {height_m: 2.4, tilt_deg: 20, vfov_deg: 0}\n", "mounting.vfov_deg",
     "at least 10"),
])
def test_mounting_mistakes_are_located(write_text, text, where, message):
    with pytest.raises(InputError) as caught:
        load_camera_config(write_text(text))
    assert where in str(caught.value) and message in str(caught.value)
