"""Fall detection on a synthetic stress set: a MuJoCo humanoid that falls in other
directions, seen from other camera positions, at other speeds, and everyday movements
the thresholds were never tuned on. Prints a table; asserts nothing.

Falls are physics only (a push, or the joints giving way, then gravity); everyday
movements are scripted postures with the feet kept on the floor (``mujoco_clips``).
Both paths run with the packaged default thresholds and no zones.

    .venv-pose/bin/python bench/synthetic_falls.py        (needs mujoco; pose needs mediapipe)
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "vision"))
import mujoco_clips as mc  # noqa: E402  (first: it sets MUJOCO_GL before mujoco loads)

from carefleet.vision import pose  # noqa: E402
from carefleet.vision.config import CameraConfig, Zone, default_config  # noqa: E402
from carefleet.vision.detector import Detector  # noqa: E402
from carefleet.vision.events import EventKind  # noqa: E402

FRONT = mc.Camera()                                   # 3.5 m, chest height, level
SIDE = mc.Camera(yaw=90)                              # the same, from the person's side
OBLIQUE = mc.Camera(yaw=-40, distance=4.0, height=1.6)
CEILING = mc.Camera(yaw=45, distance=3.5, height=2.6, look_z=0.5)   # corner, looking down
FAR = mc.Camera(distance=6.0, height=1.4)
HIGH = mc.Camera(distance=3.5, height=2.6, look_z=0.5)   # high on the wall, facing the person
CAMERAS = {id(FRONT): "front 3.5m", id(SIDE): "side 3.5m", id(OBLIQUE): "oblique 4m",
           id(CEILING): "ceiling 2.6m", id(FAR): "front 6m", id(HIGH): "high front 2.6m"}

RELEASE, DURATION = 2.0, 7.0


def fall(direction: str, camera: mc.Camera, spin: float = 0.6, **kw) -> mc.Scene:
    return mc.Scene(DURATION, RELEASE, spin, direction, camera=camera, **kw)


def adl(motion: str, camera: mc.Camera, **kw) -> mc.Scene:
    return mc.Scene(DURATION, RELEASE, motion=motion, camera=camera, **kw)


#: A passer-by walking right to left behind the person, once they are on the floor, and
#: one walking left to right in front of them (between them and the camera) as they move.
BEHIND = mc.Visitor("walk", x=3.0, y=1.3, to=-3.5, start=3.2)
IN_FRONT = mc.Visitor("walk", x=-3.5, y=-1.1, to=2.5, start=1.2)
#: A visitor seated still from the first frame, to the person's right.
SEATED = mc.Visitor("seated", x=0.9, y=0.45)


SCENES: dict[str, mc.Scene] = {
    "sideways right": fall("right", FRONT),
    "sideways left": fall("left", FRONT),
    "forward, towards camera": fall("forward", FRONT),
    "backward, away from camera": fall("backward", FRONT),
    "forward (seen across)": fall("forward", SIDE),
    "backward (seen across)": fall("backward", SIDE),
    "sideways right (oblique)": fall("right", OBLIQUE),
    "forward (oblique)": fall("forward", OBLIQUE),
    "sideways right (ceiling)": fall("right", CEILING),
    "forward (ceiling)": fall("forward", CEILING),
    "backward (ceiling)": fall("backward", CEILING),
    "sideways right, far": fall("right", FAR),
    "hard shove sideways (1.5 rad/s)": fall("right", FRONT, 1.5),
    "barely tipped sideways (0.5)": fall("right", FRONT, 0.5),
    "barely tipped forward (0.5)": fall("forward", SIDE, 0.5),
    "barely tipped backward (0.2)": fall("backward", SIDE, 0.2),
    "faint, crumples (slack 0.1)": fall("forward", FRONT, fall="collapse", slack=0.1),
    "faint, slow slump (slack 0.2)": fall("forward", SIDE, fall="collapse", slack=0.2),
    "faint, slow slump (ceiling)": fall("forward", CEILING, fall="collapse", slack=0.2),
    # class 1: along the line of sight of a camera high on the wall in front
    "forward, towards high camera": fall("forward", HIGH),
    "backward, away from high camera": fall("backward", HIGH),
    "faint, crumples (high front)": fall("forward", HIGH, fall="collapse", slack=0.1),
    # class 3: never seen standing
    "roll off the bed (bed zone)": fall("right", HIGH, fall="roll_off_bed"),
    # class 5: a second person
    "sideways right, passer-by behind": fall("right", FRONT, visitor=BEHIND),
    "backward (high), passer-by behind": fall("backward", HIGH, visitor=BEHIND),
    "sideways right, seated visitor": fall("right", FRONT, visitor=SEATED),
    "stand still": mc.Scene(DURATION, camera=FRONT),
    "sit down on chair": adl("sit_down", SIDE),
    "sit down on chair (front)": adl("sit_down", FRONT),
    "drop onto chair (0.7 s)": adl("sit_down_fast", OBLIQUE),
    "drop onto chair (ceiling)": adl("sit_down_fast", CEILING),
    "pick up from floor": adl("pick_up", FRONT),
    "pick up from floor (side)": adl("pick_up", SIDE),
    "squat and stay down": adl("squat", SIDE),
    "squat (ceiling)": adl("squat", CEILING),
    "lie down on bed": adl("lie_on_bed", FRONT),
    "lie down on bed (ceiling)": adl("lie_on_bed", CEILING),
    # class 3: seated on the bed from the first frame, then lies down on it (no zone)
    "seated, lies down on bed": adl("seated_lie_on_bed", FRONT),
    "seated, lies down on bed (high)": adl("seated_lie_on_bed", HIGH),
    # class 5: a second person
    "sit down, passer-by in front": adl("sit_down", FRONT, visitor=IN_FRONT),
    "stand still, seated visitor": mc.Scene(DURATION, camera=FRONT, visitor=SEATED),
    "pick up, passer-by behind": adl("pick_up", FRONT, visitor=BEHIND),
}
#: Scenes judged with a bed zone over the bed's mattress as the camera sees it (the
#: bed-exit rule needs one); every other scene runs without zones.
BED_ZONE = {"roll off the bed (bed zone)"}


def config(backend: str, name: str) -> CameraConfig:
    """The packaged defaults on ``backend``, with the bed zone where the scene has one."""
    zones = ()
    if name in BED_ZONE:
        zones = (Zone(name="bed", kind="bed", polygon=mc.zone_polygon(SCENES[name], mc.BED)),)
    return replace(default_config(), backend=backend, zones=zones)


def run(config: CameraConfig, clip) -> tuple[float | None, float]:
    """When ``fall_detected`` was first raised (or None), and ms per frame."""
    detector = Detector(config)
    first, start = None, time.perf_counter()
    for frame, t in clip:
        for event in detector.process("cam", frame, t):
            if event.kind is EventKind.FALL_DETECTED and first is None:
                first = event.t
    return first, 1000.0 * (time.perf_counter() - start) / len(clip)


def verdict(scene: mc.Scene, first: float | None) -> tuple[str, bool]:
    """The cell text and whether it is right (a fall counts from 1 s before its start)."""
    if scene.is_fall:
        if first is not None and first >= RELEASE - 1.0:
            return f"fall +{first - RELEASE:.2f}s", True
        return "MISSED", False
    return ("-", True) if first is None else (f"FALSE ALARM at {first:.1f}s", False)


def main() -> None:
    backends = ["opencv"] + (["pose"] if pose.available() else [])
    if len(backends) == 1:
        print("pose backend: mediapipe not installed, skipped")
    began = time.perf_counter()
    header = f"| scene | camera | expected | {' | '.join(backends)} |"
    print(header)
    print("|" + "---|" * (3 + len(backends)))
    right = {b: [0, 0, 0, 0] for b in backends}  # falls found, falls, ADL quiet, ADL
    cost = {b: 0.0 for b in backends}
    for name, scene in SCENES.items():
        clip = mc.render(scene)
        cells = []
        for backend in backends:
            first, ms = run(config(backend, name), clip)
            text, ok = verdict(scene, first)
            cost[backend] += ms / len(SCENES)
            k = 0 if scene.is_fall else 2
            right[backend][k] += ok
            right[backend][k + 1] += 1
            cells.append(text)
        camera = CAMERAS[id(scene.camera)]
        expected = "fall" if scene.is_fall else "no fall"
        print(f"| {name} | {camera} | {expected} | {' | '.join(cells)} |", flush=True)
    print()
    for backend in backends:
        found, falls, quiet, adls = right[backend]
        print(f"{backend}: falls detected {found}/{falls}, everyday movements without alarm "
              f"{quiet}/{adls}, {cost[backend]:.1f} ms/frame")
    print(f"({len(SCENES)} clips of {DURATION:.0f} s at {mc.WIDTH}x{mc.HEIGHT}, "
          f"{mc.FPS:.0f} fps; {time.perf_counter() - began:.0f} s in all)")


if __name__ == "__main__":
    main()
