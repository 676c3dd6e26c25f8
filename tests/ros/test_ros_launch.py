"""``carefleet launch``: the launch files of ``launch/`` run here, each node its own
process, all stopped cleanly together on SIGINT; what it cannot run, it refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from ros_helpers import REPO, Client, wait_for  # noqa: E402


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _carefleet(*args: str, **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "carefleet.cli", *args], cwd=REPO,
                            env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)  # type: ignore[call-overload]


def test_launch_ward_sim_starts_separate_processes_and_stops_them_cleanly_on_sigint(
        tmp_path: Path, client: Client) -> None:
    client.reset()
    launcher = _carefleet("launch", "launch/ward_sim.launch.yaml", "speed:=20.0",
                          f"store:={tmp_path / 'ward.db'}")
    try:
        wait_for(lambda: client.fleet and len(client.fleet["robots"]) == 3 and
                 all(r["heard"] for r in client.fleet["robots"]), 40,
                 "the launched ward's three robots heard by its orchestrator")
        children = _children(launcher.pid)
        assert len(children) == 5, children            # clock, orchestrator, 3 robots
        answer = client.request({"task": {"kind": "go_to", "place": "lounge"}})
        assert answer["ok"], answer
    finally:
        launcher.send_signal(signal.SIGINT)
        out, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, out
    assert out.count("process has finished cleanly") == 5, out
    assert not any(Path(f"/proc/{pid}").exists() and
                   "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in children), "a node outlived the launcher"


def test_a_tag_it_cannot_run_is_refused_naming_the_tag(tmp_path: Path) -> None:
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- arg: {name: x, default: '1'}\n- include: {file: other.launch.yaml}\n")
    done = _carefleet("launch", str(bad))
    out, _ = done.communicate(timeout=30)
    assert done.returncode == 2
    assert out.strip().splitlines() == [
        f"carefleet: error: {bad}: launch[1]: tag 'include' is not supported by carefleet "
        "launch (supported: arg, let, node, param, remap, group, push_ros_namespace); use "
        "ros2 launch for it"]
    typo = tmp_path / "typo.launch.yaml"
    typo.write_text("launch:\n- node: {pkg: carefleet, exec: orchestrator_node, respawn: true}\n")
    done = _carefleet("launch", str(typo))
    out, _ = done.communicate(timeout=30)
    assert done.returncode == 2 and "attribute 'respawn' is not supported" in out, out
    done = _carefleet("launch", "launch/ward_sim.launch.yaml", "sped:=3")
    out, _ = done.communicate(timeout=30)
    assert done.returncode == 2 and "no launch argument 'sped'" in out, out
