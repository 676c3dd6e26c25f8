"""Synthetic camera clips of a simulated person, rendered with MuJoCo.

The OpenCV-drawn figures of ``vision_clips`` are not human enough for MediaPipe Pose to
find, so the pose path is tested on these instead: an articulated humanoid (capsule limbs
and torso, a sphere head with hair, eyes, nose and mouth; shirt, trousers and skin
colours, about 1.75 m and 75 kg) in front of a plain wall on a wooden floor, seen by a
fixed camera 3.5 m away at chest height, 320x240 at 15 fps with sensor noise.

Nothing is scripted about the fall: at the release the standing person is set rolling
sideways over the outer edge of one shoe at 0.6 rad/s (a shove or a stumble: the pelvis
moves at about 0.6 m/s, a little more than it takes to pass the balance limit of the
stance) and gravity does the rest. Hips, knees, waist and shoulders are passive
joints (spring and damper, like slack muscle tone), so the body lands and settles rather
than bouncing like a plank. Physics and rendering are deterministic: the same clip is
rendered every time (MuJoCo's own software OpenGL through EGL, no shadows, no MSAA).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

# Headless rendering (EGL, Mesa's software driver here): mujoco reads this when it is
# first imported, so import this module before anything else imports mujoco.
os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402  (after MUJOCO_GL)
import numpy as np  # noqa: E402

WIDTH, HEIGHT, FPS = 320, 240, 15.0

_SKIN, _SHIRT, _TROUSERS = "0.87 0.68 0.55 1", "0.20 0.35 0.65 1", "0.25 0.25 0.30 1"
_HAIR, _SHOES, _DARK, _LIPS = "0.25 0.18 0.12 1", "0.1 0.1 0.1 1", "0.1 0.1 0.1 1", "0.6 0.2 0.2 1"


def _arm(side: int) -> str:
    x = 0.23 * side
    return f"""
        <body name="{'r' if side > 0 else 'l'}arm" pos="{x} 0 .39">
          <joint type="ball" stiffness="20" damping="3"/>
          <geom type="capsule" fromto="0 0 0 {.02 * side} 0 -.28" size=".055" rgba="{_SHIRT}" mass="2"/>
          <geom type="capsule" fromto="{.02 * side} 0 -.28 {.03 * side} 0 -.54" size=".045" rgba="{_SKIN}" mass="1.5"/>
          <geom type="sphere" pos="{.03 * side} 0 -.59" size=".05" rgba="{_SKIN}" mass=".5"/>
        </body>"""


def _leg(side: int) -> str:
    return f"""
      <body name="{'r' if side > 0 else 'l'}leg" pos="{.1 * side} 0 -.02">
        <joint type="ball" stiffness="200" damping="20"/>
        <geom type="capsule" fromto="0 0 0 {.01 * side} 0 -.43" size=".075" rgba="{_TROUSERS}" mass="8"/>
        <body pos="{.01 * side} 0 -.43">
          <joint type="hinge" axis="1 0 0" range="0 2.4" stiffness="150" damping="15"/>
          <geom type="capsule" fromto="0 0 0 0 0 -.4" size=".06" rgba="{_TROUSERS}" mass="4"/>
          <geom type="box" pos="0 -.05 -.45" size=".05 .11 .04" rgba="{_SHOES}" mass="1"/>
        </body>
      </body>"""


#: Where the person stands (pelvis), x across the view; the camera looks along +y.
STAND_X, PELVIS_Z = -0.6, 0.95
#: Half the stance: the outer edge of the right shoe, the pivot of a sideways fall.
SHOE_EDGE = 0.16

MJCF = f"""
<mujoco model="carefleet-resident">
  <option timestep="0.002"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient=".35 .35 .35" diffuse=".5 .5 .5" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="floor" type="2d" builtin="checker" rgb1=".55 .45 .35" rgb2=".5 .4 .3"
             width="64" height="64"/>
    <material name="floor" texture="floor" texrepeat="8 8"/>
  </asset>
  <default><geom friction="1 0.05 0.01"/></default>
  <worldbody>
    <light pos="0 -2 3" dir="0 0.5 -1" diffuse=".5 .5 .5" castshadow="false"/>
    <geom name="floor" type="plane" size="5 5 .1" material="floor"/>
    <geom name="wall" type="box" pos="0 2 3" size="5 .05 3" rgba=".85 .85 .8 1"/>
    <camera name="ward" pos="0 -3.5 1.2" xyaxes="1 0 0 0 0 1" fovy="45"/>
    <body name="pelvis" pos="{STAND_X} 0 {PELVIS_Z}">
      <freejoint/>
      <geom type="capsule" fromto="-.1 0 0 .1 0 0" size=".12" rgba="{_TROUSERS}" mass="10"/>
      <body name="torso" pos="0 0 .05">
        <joint type="ball" stiffness="300" damping="30"/>
        <geom type="capsule" fromto="0 0 0 0 0 .4" size=".15" rgba="{_SHIRT}" mass="25"/>
        <geom type="capsule" fromto="-.17 0 .4 .17 0 .4" size=".07" rgba="{_SHIRT}" mass="3"/>
        <geom type="capsule" fromto="0 0 .4 0 0 .53" size=".05" rgba="{_SKIN}" mass="1"/>
        <geom name="head" type="sphere" pos="0 0 .63" size=".11" rgba="{_SKIN}" mass="5"/>
        <geom type="sphere" pos="0 .02 .66" size=".105" rgba="{_HAIR}" mass=".1"/>
        <geom type="sphere" pos="-.04 -.1 .65" size=".015" rgba="{_DARK}" mass=".01"/>
        <geom type="sphere" pos=".04 -.1 .65" size=".015" rgba="{_DARK}" mass=".01"/>
        <geom type="capsule" fromto="0 -.11 .63 0 -.12 .61" size=".015" rgba="{_SKIN}" mass=".01"/>
        <geom type="capsule" fromto="-.03 -.1 .58 .03 -.1 .58" size=".008" rgba="{_LIPS}" mass=".01"/>
        {_arm(-1)}{_arm(1)}
      </body>
      {_leg(-1)}{_leg(1)}
    </body>
  </worldbody>
  <contact>
    <exclude body1="pelvis" body2="larm"/>
    <exclude body1="pelvis" body2="rarm"/>
  </contact>
</mujoco>
"""


@dataclass(frozen=True)
class Scene:
    """``duration`` seconds; released (tipped over the shoe edge) at ``release``, if ever."""

    duration: float
    release: float | None = None
    spin: float = 0.6


SCENES: dict[str, Scene] = {
    # stands still for 2 s, then topples sideways (to the right in the view) and lies 1.8 s
    "stand_then_fall": Scene(duration=5.0, release=2.0),
    # stands still in view from the first frame for 5 s
    "stand_still": Scene(duration=5.0),
}


def _push(data: mujoco.MjData, spin: float) -> None:
    """Set the whole (rigid, at rest) body rolling sideways about the outer edge of the
    right shoe at ``spin`` rad/s: a shove, or a stumble, that it does not recover from."""
    lever = data.qpos[:3] - [STAND_X + SHOE_EDGE, 0.0, 0.0]  # from the pivot to the pelvis
    omega = np.array([0.0, spin, 0.0])  # about +y: the head goes towards +x (right)
    data.qvel[:] = 0.0
    data.qvel[:3] = np.cross(omega, lever)  # the free joint's linear velocity (world)
    data.qvel[3:6] = omega  # its angular velocity (body frame = world: upright)


def simulate(scene: Scene) -> Iterator[tuple[float, mujoco.MjModel, mujoco.MjData]]:
    """The physical state at every frame time: standing still (not simulated) until the
    release, free under gravity after it."""
    model = mujoco.MjModel.from_xml_string(MJCF)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    steps = int(round(1.0 / FPS / model.opt.timestep))
    released = False
    for i in range(int(round(scene.duration * FPS)) + 1):
        t = i / FPS
        if scene.release is not None and t >= scene.release - 1e-9:
            if not released:
                _push(data, scene.spin)
                released = True
            for _ in range(steps):
                mujoco.mj_step(model, data)
        yield t, model, data


def head_heights(scene: Scene) -> list[tuple[float, float]]:
    """``(t, height of the head's centre in metres)`` at every frame (physics only)."""
    return [(t, float(data.geom("head").xpos[2])) for t, _, data in simulate(scene)]


def render(scene: Scene, seed: int = 1) -> list[tuple[np.ndarray, float]]:
    """Frames ``(bgr uint8, t)`` from the ward camera, with sensor noise (sigma 2)."""
    rng = np.random.default_rng(seed)
    frames: list[tuple[np.ndarray, float]] = []
    renderer = None
    try:
        for t, model, data in simulate(scene):
            if renderer is None:
                renderer = mujoco.Renderer(model, HEIGHT, WIDTH)
            renderer.update_scene(data, camera="ward")
            rgb = renderer.render()
            noisy = rgb[:, :, ::-1] + rng.normal(0.0, 2.0, rgb.shape)
            frames.append((np.clip(noisy, 0, 255).astype(np.uint8), t))
    finally:
        if renderer is not None:
            renderer.close()
    return frames
