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

``SCENES`` are the two scenes the tests use (the original room and camera, byte for byte).
``Scene`` also takes a ``Camera`` (distance, height, yaw, look-at height; in a walled room),
a fall direction and push strength, a faint (``fall="collapse"``) or an everyday movement
(``MOTIONS``: scripted postures, not physics) for ``bench/synthetic_falls.py``.
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
          <joint name="{'r' if side > 0 else 'l'}shoulder" type="ball" stiffness="20" damping="3"/>
          <geom type="capsule" fromto="0 0 0 {.02 * side} 0 -.28" size=".055" rgba="{_SHIRT}" mass="2"/>
          <geom type="capsule" fromto="{.02 * side} 0 -.28 {.03 * side} 0 -.54" size=".045" rgba="{_SKIN}" mass="1.5"/>
          <geom type="sphere" pos="{.03 * side} 0 -.59" size=".05" rgba="{_SKIN}" mass=".5"/>
        </body>"""


def _leg(side: int) -> str:
    return f"""
      <body name="{'r' if side > 0 else 'l'}leg" pos="{.1 * side} 0 -.02">
        <joint name="{'r' if side > 0 else 'l'}hip" type="ball" stiffness="200" damping="20"/>
        <geom type="capsule" fromto="0 0 0 {.01 * side} 0 -.43" size=".075" rgba="{_TROUSERS}" mass="8"/>
        <body name="{'r' if side > 0 else 'l'}shin" pos="{.01 * side} 0 -.43">
          <joint name="{'r' if side > 0 else 'l'}knee" type="hinge" axis="1 0 0" range="0 2.4" stiffness="150" damping="15"/>
          <geom type="capsule" fromto="0 0 0 0 0 -.4" size=".06" rgba="{_TROUSERS}" mass="4"/>
          <geom type="box" pos="0 -.05 -.45" size=".05 .11 .04" rgba="{_SHOES}" mass="1"/>
        </body>
      </body>"""


#: Where the person stands (pelvis), x across the view; the camera looks along +y.
STAND_X, PELVIS_Z = -0.6, 0.95
#: Half the stance: the outer edge of the right shoe, the pivot of a sideways fall.
SHOE_EDGE = 0.16

#: The person: a free body whose joints are passive springs (see the module docstring).
_PERSON = f"""<body name="pelvis" pos="{STAND_X} 0 {PELVIS_Z}">
      <freejoint/>
      <geom type="capsule" fromto="-.1 0 0 .1 0 0" size=".12" rgba="{_TROUSERS}" mass="10"/>
      <body name="torso" pos="0 0 .05">
        <joint name="waist" type="ball" stiffness="300" damping="30"/>
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
    </body>"""

_MJCF_TEMPLATE = f"""
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
  <default><geom friction="1 0.05 0.01"/>{{defaults}}</default>
  <worldbody>
    <light pos="0 -2 3" dir="0 0.5 -1" diffuse=".5 .5 .5" castshadow="false"/>
    {{room}}
    {_PERSON}{{visitor}}
  </worldbody>
  <contact>
    <exclude body1="pelvis" body2="larm"/>
    <exclude body1="pelvis" body2="rarm"/>
    {{contact}}
  </contact>
</mujoco>
"""


#: The original room: a wall behind the person, the ward camera 3.5 m in front at chest height.
_WARD_ROOM = """<geom name="floor" type="plane" size="5 5 .1" material="floor"/>
    <geom name="wall" type="box" pos="0 2 3" size="5 .05 3" rgba=".85 .85 .8 1"/>
    <camera name="ward" pos="0 -3.5 1.2" xyaxes="1 0 0 0 0 1" fovy="45"/>"""

MJCF = _MJCF_TEMPLATE.format(room=_WARD_ROOM, contact="", visitor="", defaults="")

#: The person faces -y (towards the original camera). Fall directions are named as that
#: camera sees them: ``right`` is +x, ``forward`` is towards it (-y).
DIRECTIONS = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "forward": (0.0, -1.0),
              "backward": (0.0, 1.0)}
#: From the ankle line to the edge of the shoes the body rolls over, per direction: the
#: outer edge (sideways), the toes (forward: the shoe reaches 0.16 m in front) or the
#: heels (backward: only 0.06 m behind the ankle, the least stable direction).
_PIVOT = {"right": 0.16, "left": 0.16, "forward": 0.16, "backward": 0.06}


@dataclass(frozen=True)
class Camera:
    """A fixed camera ``distance`` m (horizontally) from the scene's centre, ``height`` m
    up, ``yaw`` degrees round it from the person's front (90: from their right in the
    original view, +x), looking at the scene's centre ``look_z`` m up (None: level)."""

    distance: float = 3.5
    height: float = 1.2
    yaw: float = 0.0
    look_z: float | None = None
    fovy: float = 45.0


@dataclass(frozen=True)
class Box:
    """A piece of furniture: a box ``size`` (half extents) at ``pos`` (centre)."""

    pos: tuple[float, float, float]
    size: tuple[float, float, float]
    rgba: str = "0.55 0.35 0.2 1"
    friction: float = 1.0


@dataclass(frozen=True)
class Visitor:
    """A second person (a passer-by, a visitor), scripted and touching nothing: ``walk``
    across the room along ``y`` from ``x`` to ``to`` at ``speed`` m/s, starting at
    ``start`` s (a normal gait: legs and arms swing); or ``seated`` on a chair at
    ``(x, y)`` from the first frame, facing the camera's side of the room."""

    kind: str
    x: float
    y: float
    to: float = 0.0
    start: float = 0.0
    speed: float = 1.0

    def furniture(self) -> tuple[Box, ...]:
        """The visitor's chair, if seated (behind their ankles, as ``CHAIR`` is)."""
        if self.kind != "seated":
            return ()
        return (Box(pos=(self.x, self.y + CHAIR.pos[1], CHAIR.pos[2]), size=CHAIR.size),)


@dataclass(frozen=True)
class Scene:
    """``duration`` seconds; released (tipped over the shoe edge) at ``release``, if ever.

    The fields after ``spin`` parametrise the stress set; their defaults are the original
    scenes (the ward camera, a sideways push to the right, standing, no furniture).

    - ``direction``: where the push sends the body (``DIRECTIONS``).
    - ``spin``: the push, as the body's initial roll rate about the shoe edge (rad/s).
      About 0.5 (sideways, forward) or 0.2 (backward) is just enough to pass the
      balance limit: a slow start, a fast end. 1.5 is a hard shove.
    - ``fall``: ``topple`` (the push above) or ``collapse`` (a faint: the hips, knees and
      waist give way, their spring stiffness dropping to ``slack`` of normal and their
      damping less; a slight sway forward and gravity do the rest. 0.1 crumples in
      about 1 s, 0.2 slumps more slowly).
    - ``motion``: an everyday movement instead of a fall (``MOTIONS``): joint angles
      scripted over time (kinematic, feet kept on the floor), starting at ``release``.
      ``roll_off_bed`` starts lying on the side at the front edge of the bed (never seen
      standing) and, at the release, rolls towards the camera off the edge onto the floor.
    - ``motion``: an everyday movement instead of a fall (``MOTIONS``): joint angles
      scripted over time (kinematic, feet kept on the floor), starting at ``release``.
    - ``camera``: None for the original ward camera, else a ``Camera`` in a walled room
      aimed at the middle of where the movement happens.
    - ``visitor``: a second person in the room (``Visitor``), scripted.
    """

    duration: float
    release: float | None = None
    spin: float = 0.6
    direction: str = "right"
    fall: str = "topple"
    motion: str | None = None
    camera: Camera | None = None
    slack: float = 0.1
    visitor: Visitor | None = None

    @property
    def is_fall(self) -> bool:
        return self.release is not None and self.motion is None


SCENES: dict[str, Scene] = {
    # stands still for 2 s, then topples sideways (to the right in the view) and lies 1.8 s
    "stand_then_fall": Scene(duration=5.0, release=2.0),
    # stands still in view from the first frame for 5 s
    "stand_still": Scene(duration=5.0),
}

# --- furniture --------------------------------------------------------------------------

#: A chair seat behind the person (no back: a stool-like seat), top 0.40 m up; its front
#: edge is 0.26 m behind the ankles, where the backs of the knees are when seated.
SEAT_TOP = 0.40
CHAIR = Box(pos=(STAND_X, 0.48, SEAT_TOP / 2), size=(0.22, 0.22, SEAT_TOP / 2))
#: A low care bed (0.40 m, lowered for fall prevention) behind the person, 2 m along x.
BED = Box(pos=(STAND_X + 0.1, 0.71, SEAT_TOP / 2), size=(1.0, 0.45, SEAT_TOP / 2),
          rgba="0.85 0.85 0.95 1")

# --- the model --------------------------------------------------------------------------


def _look_at(pos: np.ndarray, target: np.ndarray) -> str:
    forward = (target - pos) / np.linalg.norm(target - pos)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return " ".join(f"{v:.5f}" for v in (*right, *up))


def _room(camera: Camera, centre: tuple[float, float], furniture: tuple[Box, ...]) -> str:
    """A 14 x 14 m walled room (so every camera sees a wall behind the person), the
    camera aimed at ``centre`` and the furniture."""
    yaw = np.radians(camera.yaw)
    pos = np.array([centre[0] + camera.distance * np.sin(yaw),
                    centre[1] - camera.distance * np.cos(yaw), camera.height])
    look_z = camera.height if camera.look_z is None else camera.look_z
    target = np.array([centre[0], centre[1], look_z])
    walls = "".join(
        f'<geom type="box" pos="{x} {y} 3" size="{sx} {sy} 3" rgba=".85 .85 .8 1"/>\n    '
        for x, y, sx, sy in ((0, 7, 7, .05), (0, -7, 7, .05), (7, 0, .05, 7), (-7, 0, .05, 7)))
    boxes = "".join(
        f'<geom type="box" pos="{b.pos[0]} {b.pos[1]} {b.pos[2]}" '
        f'size="{b.size[0]} {b.size[1]} {b.size[2]}" rgba="{b.rgba}" '
        f'friction="{b.friction} 0.05 0.01"/>\n    ' for b in furniture)
    return (f'<geom name="floor" type="plane" size="7 7 .1" material="floor"/>\n    {walls}'
            f'{boxes}<camera name="ward" pos="{pos[0]:.4f} {pos[1]:.4f} {pos[2]:.4f}" '
            f'xyaxes="{_look_at(pos, target)}" fovy="{camera.fovy}"/>')


def _furniture(scene: Scene) -> tuple[Box, ...]:
    visitor = scene.visitor.furniture() if scene.visitor is not None else ()
    if scene.motion is not None:
        return MOTIONS[scene.motion].furniture + visitor
    if scene.fall == "roll_off_bed":
        return (BED,) + visitor
    return visitor


def _centre(scene: Scene) -> tuple[float, float]:
    """Where the camera looks: the middle of the movement (for a fall, 0.8 m from the
    standing point in the fall's direction, so the body lands in view)."""
    if scene.motion is not None:
        return MOTIONS[scene.motion].centre
    if scene.fall == "roll_off_bed":
        return STAND_X, 0.2  # the front edge of the bed and the floor before it
    if scene.fall == "topple":
        dx, dy = DIRECTIONS[scene.direction]
        return STAND_X + 0.8 * dx, 0.8 * dy
    return STAND_X, 0.0


def model_xml(scene: Scene) -> str:
    if scene.camera is None:
        return MJCF
    # The torso's capsule overlaps the tops of the thighs (siblings, so their contact is
    # not excluded by default): harmless standing, explosive seated. Excluded here.
    visitor, defaults = "", ""
    if scene.visitor is not None:
        visitor, defaults = "\n    " + _VISITOR_XML, _VISITOR_DEFAULTS
    return _MJCF_TEMPLATE.format(room=_room(scene.camera, _centre(scene), _furniture(scene)),
                                 contact=_TORSO_THIGHS, visitor=visitor, defaults=defaults)


#: The visitor: the same body under names starting with ``VISITOR``, in clothes of other
#: colours, colliding with nothing (it is posed every physics step, not simulated).
VISITOR = "v_"
_VISITOR_XML = (_PERSON.replace('name="', f'name="{VISITOR}')
                .replace("<freejoint/>", f'<freejoint name="{VISITOR}root"/>')
                .replace(f'name="{VISITOR}pelvis"', f'name="{VISITOR}pelvis" childclass="visitor"', 1)
                .replace(_SHIRT, "0.55 0.25 0.25 1").replace(_TROUSERS, "0.45 0.40 0.30 1"))
_VISITOR_DEFAULTS = '<default class="visitor"><geom contype="0" conaffinity="0"/></default>'


_TORSO_THIGHS = ('<exclude body1="torso" body2="lleg"/>'
                 '<exclude body1="torso" body2="rleg"/>')


# --- poses (kinematic) ------------------------------------------------------------------


def _qx(angle: float) -> np.ndarray:
    """The quaternion of a rotation by ``angle`` rad about x (+: the limb below a joint
    swings backwards, +y; a torso above it leans forwards, -y)."""
    return np.array([np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0])


def _qy(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0])


@dataclass(frozen=True)
class Pose:
    """A posture: hip flexion (thighs forward), knee flexion, forward lean of
    the torso at the waist, arms raised forward (rad); ``roll``: the whole body turned
    about the view axis (-pi/2: lying on the side, head to the left)."""

    hip: float = 0.0
    knee: float = 0.0
    lean: float = 0.0
    arms: float = 0.0
    roll: float = 0.0
    stride: float = 0.0
    """Walking: the left thigh this much forward of the right (rad), arms the other way."""


STANDING = Pose()
SEATED = Pose(hip=np.pi / 2, knee=np.pi / 2, arms=0.5)


def _set_pose(model: mujoco.MjModel, data: mujoco.MjData, pose: Pose,
              pelvis: np.ndarray, who: str = "", heading: float = 0.0) -> None:
    """Pose the person (``who`` "") or the visitor (``VISITOR``), turned ``heading`` rad
    about the vertical from facing the original camera. The visitor comes last in the
    model, so zeroing its velocities leaves the person's alone."""
    q = data.qpos
    root = model.joint(who + "root").qposadr[0] if who else 0
    q[root:root + 3] = pelvis
    q[root + 3:root + 7] = _qy(pose.roll) if not heading else _qz(heading)
    for name, quat in (("waist", _qx(pose.lean)), ("lhip", _qx(-pose.hip - pose.stride)),
                       ("rhip", _qx(-pose.hip + pose.stride)),
                       ("lshoulder", _qx(-pose.arms + pose.stride)),
                       ("rshoulder", _qx(-pose.arms - pose.stride))):
        adr = model.joint(who + name).qposadr[0]
        q[adr:adr + 4] = quat
    for name in ("lknee", "rknee"):
        q[model.joint(who + name).qposadr[0]] = pose.knee
    data.qvel[model.joint(who + "root").dofadr[0] if who else 0:] = 0.0
    mujoco.mj_kinematics(model, data)


def _qz(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)])


def _ankle(model: mujoco.MjModel, data: mujoco.MjData, who: str = "") -> np.ndarray:
    shin = data.body(who + "rshin")
    return shin.xpos + shin.xmat.reshape(3, 3) @ np.array([0.0, 0.0, -0.4])


def _place(model: mujoco.MjModel, data: mujoco.MjData, pose: Pose,
           ankle: np.ndarray, who: str = "") -> np.ndarray:
    """Put the body in ``pose`` with its ankles at ``ankle`` (feet on the floor);
    returns the pelvis position used."""
    pelvis = np.array([ankle[0], ankle[1], PELVIS_Z])
    _set_pose(model, data, pose, pelvis, who)
    pelvis = pelvis + ankle - _ankle(model, data, who)
    _set_pose(model, data, pose, pelvis, who)
    return pelvis


def _smooth(x: float) -> float:
    """Minimum-jerk progress 0..1 (how people move a limb between two postures)."""
    x = min(max(x, 0.0), 1.0)
    return x * x * x * (10 - 15 * x + 6 * x * x)


def _blend(a: Pose, b: Pose, s: float) -> Pose:
    return Pose(*(va + (vb - va) * s for va, vb in
                  zip((a.hip, a.knee, a.lean, a.arms, a.roll, a.stride),
                      (b.hip, b.knee, b.lean, b.arms, b.roll, b.stride))))


@dataclass(frozen=True)
class Motion:
    """An everyday movement: postures at times (s after the start), feet kept where they
    stand, and ``lie`` (start, end) when the body leaves its feet to lie on the bed."""

    keys: tuple[tuple[float, Pose], ...]
    furniture: tuple[Box, ...] = ()
    centre: tuple[float, float] = (STAND_X, 0.2)
    lie: tuple[float, float] | None = None


_SIT_LEAN = Pose(hip=1.0, knee=1.0, lean=0.6, arms=0.4)
MOTIONS: dict[str, Motion] = {
    # sit down on the chair behind in 1.6 s (leaning forward on the way), stay seated
    "sit_down": Motion(keys=((0.0, STANDING), (0.8, _SIT_LEAN), (1.6, SEATED)),
                       furniture=(CHAIR,)),
    # drop onto the chair in 0.7 s (an old person whose legs give out the last bit)
    "sit_down_fast": Motion(keys=((0.0, STANDING), (0.35, _SIT_LEAN), (0.7, SEATED)),
                            furniture=(CHAIR,)),
    # bend down to pick something off the floor (1.2 s), hold 1 s, straighten (1.2 s)
    "pick_up": Motion(keys=((0.0, STANDING), (1.2, Pose(hip=0.5, knee=0.9, lean=1.2, arms=1.2)),
                            (2.2, Pose(hip=0.5, knee=0.9, lean=1.2, arms=1.2)), (3.4, STANDING))),
    # squat down to the floor (a shoe, a low drawer) in 1.5 s and stay down
    "squat": Motion(keys=((0.0, STANDING), (1.5, Pose(hip=2.0, knee=2.3, lean=0.6, arms=0.8)))),
    # sit on the edge of the bed (1.6 s), then lie down on the side, legs up (2 s)
    "lie_on_bed": Motion(keys=((0.0, STANDING), (0.8, _SIT_LEAN), (1.6, SEATED),
                               (2.2, SEATED), (4.2, Pose(hip=0.15, knee=0.3, arms=0.8,
                                                         roll=-np.pi / 2))),
                         furniture=(BED,), centre=(STAND_X, 0.4), lie=(2.2, 4.2)),
    # seated on the edge of the bed from the first frame (never seen standing), lies
    # down on the side in 2 s: fast for a seated body, slow for a whole one
    "seated_lie_on_bed": Motion(keys=((0.0, SEATED), (2.0, Pose(hip=0.15, knee=0.3, arms=0.8,
                                                                roll=-np.pi / 2))),
                                furniture=(BED,), centre=(STAND_X, 0.4), lie=(0.0, 2.0)),
}
#: Lying on the bed: the pelvis on its side on the mattress (hips 0.44 m wide).
_LYING_PELVIS = np.array([STAND_X, 0.6, SEAT_TOP + 0.23])
#: ``roll_off_bed``: lying on the side at the front edge of the bed (its edge at y 0.26),
#: then rolling towards the camera about the body's long axis, off the edge.
_EDGE_LYING = Pose(hip=0.15, knee=0.3, arms=0.8, roll=-np.pi / 2)
_EDGE_PELVIS = np.array([STAND_X, 0.40, SEAT_TOP + 0.23])
_ROLL_SPIN, _ROLL_SPEED = 2.5, 0.5  # rad/s about the long axis, m/s towards the edge


def _motion_pose(motion: Motion, t: float) -> Pose:
    keys = motion.keys
    if t <= keys[0][0]:
        return keys[0][1]
    for (t0, p0), (t1, p1) in zip(keys, keys[1:]):
        if t <= t1:
            return _blend(p0, p1, _smooth((t - t0) / (t1 - t0)))
    return keys[-1][1]


def _pose_motion(model, data, motion: Motion, t: float, ankle: np.ndarray) -> None:
    pose = _motion_pose(motion, t)
    if motion.lie is None or t <= motion.lie[0]:
        _place(model, data, pose, ankle)
        return
    seated = _place(model, data, _motion_pose(motion, motion.lie[0]), ankle)
    s = _smooth((t - motion.lie[0]) / (motion.lie[1] - motion.lie[0]))
    _set_pose(model, data, pose, seated + (_LYING_PELVIS - seated) * s)


# --- physics ----------------------------------------------------------------------------


def _push(data: mujoco.MjData, spin: float, direction: str = "right") -> None:
    """Set the whole (rigid, at rest) body rolling over the edge of the shoes in
    ``direction`` at ``spin`` rad/s: a shove, or a stumble, that it does not recover from."""
    d = np.array([*DIRECTIONS[direction], 0.0])
    pivot = np.array([STAND_X, 0.0, 0.0]) + _PIVOT[direction] * d
    lever = data.qpos[:3] - pivot  # from the pivot to the pelvis
    omega = spin * np.cross([0.0, 0.0, 1.0], d)  # the head goes towards d
    data.qvel[:] = 0.0
    data.qvel[:3] = np.cross(omega, lever)  # the free joint's linear velocity (world)
    data.qvel[3:6] = omega  # its angular velocity (body frame = world: upright)


def _go_slack(model: mujoco.MjModel, factor: float) -> None:
    for name in ("lhip", "rhip", "lknee", "rknee", "waist"):
        jid = model.joint(name).id
        model.jnt_stiffness[jid] *= factor
        dof = model.jnt_dofadr[jid]
        n = 3 if model.jnt_type[jid] == mujoco.mjtJoint.mjJNT_BALL else 1
        model.dof_damping[dof:dof + n] *= max(factor, 0.3)


def _pose_visitor(model: mujoco.MjModel, data: mujoco.MjData, visitor: Visitor,
                  t: float, ankle: np.ndarray) -> None:
    """Where the visitor is at ``t``: seated still, or walking (before ``start`` at ``x``,
    after arriving at ``to``, standing there), legs swinging 0.35 rad at 0.9 strides/s."""
    if visitor.kind == "seated":
        _place(model, data, SEATED, np.array([visitor.x, visitor.y, ankle[2]]), VISITOR)
        return
    span = abs(visitor.to - visitor.x) / visitor.speed
    walked = min(max(t - visitor.start, 0.0), span)
    x = visitor.x + np.sign(visitor.to - visitor.x) * visitor.speed * walked
    stride = 0.35 * np.sin(2 * np.pi * 0.9 * walked) if 0.0 < walked < span else 0.0
    heading = np.pi / 2 * np.sign(visitor.to - visitor.x)
    _set_pose(model, data, Pose(stride=stride), np.array([x, visitor.y, PELVIS_Z - 0.01]),
              VISITOR, heading)


def simulate(scene: Scene) -> Iterator[tuple[float, mujoco.MjModel, mujoco.MjData]]:
    """The physical state at every frame time: standing (or seated, or lying in bed)
    still, not simulated, until the release; then free under gravity (a fall) or
    following the scripted postures (an everyday movement). A visitor is posed at every
    physics step."""
    model = mujoco.MjModel.from_xml_string(model_xml(scene))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    ankle = _ankle(model, data).copy()
    motion = MOTIONS[scene.motion] if scene.motion is not None else None
    if scene.fall == "roll_off_bed" and motion is None:
        _set_pose(model, data, _EDGE_LYING, _EDGE_PELVIS)
    steps = int(round(1.0 / FPS / model.opt.timestep))
    dt = model.opt.timestep
    released = False
    for i in range(int(round(scene.duration * FPS)) + 1):
        t = i / FPS
        started = scene.release is not None and t >= scene.release - 1e-9
        if motion is not None:
            _pose_motion(model, data, motion, t - scene.release if started else -1.0, ankle)
        elif started:
            if not released:
                if scene.fall == "topple":
                    _push(data, scene.spin, scene.direction)
                elif scene.fall == "collapse":
                    _go_slack(model, scene.slack)
                    data.qvel[:] = 0.0
                    data.qvel[1] = -0.1  # a sway forward as it starts
                elif scene.fall == "roll_off_bed":
                    data.qvel[:] = 0.0
                    data.qvel[1] = -_ROLL_SPEED
                    # angular velocity of the free joint in its body frame: about the long
                    # axis (body z after the roll onto the side), the top towards the camera
                    data.qvel[5] = -_ROLL_SPIN
                else:
                    raise ValueError(f"unknown fall {scene.fall!r}")
                released = True
            for k in range(steps):
                if scene.visitor is not None:
                    _pose_visitor(model, data, scene.visitor, t + k * dt, ankle)
                mujoco.mj_step(model, data)
        if scene.visitor is not None:
            _pose_visitor(model, data, scene.visitor, t, ankle)
        yield t, model, data


def zone_polygon(scene: Scene, box: Box) -> tuple[tuple[float, float], ...]:
    """The top of a piece of furniture as the scene's camera sees it, in frame fractions
    (0..1): what an installer draws as the camera's bed zone."""
    model = mujoco.MjModel.from_xml_string(model_xml(scene))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    cam = data.cam("ward")
    rotation, origin = cam.xmat.reshape(3, 3), cam.xpos
    focal = (HEIGHT / 2) / np.tan(np.radians(model.cam_fovy[model.camera("ward").id]) / 2)
    (x, y, z), (sx, sy, sz) = box.pos, box.size
    corners = ((x - sx, y - sy), (x + sx, y - sy), (x + sx, y + sy), (x - sx, y + sy))
    polygon = []
    for cx, cy in corners:
        right, up, back = rotation.T @ (np.array([cx, cy, z + sz]) - origin)
        u = WIDTH / 2 + focal * right / -back
        v = HEIGHT / 2 - focal * up / -back
        polygon.append((round(float(np.clip(u / WIDTH, 0, 1)), 3),
                        round(float(np.clip(v / HEIGHT, 0, 1)), 3)))
    return tuple(polygon)


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
