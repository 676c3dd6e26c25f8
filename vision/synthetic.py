"""Synthetic camera footage drawn with OpenCV: for the vision tests and the simulated ward.

Nothing here claims to be realistic enough to measure accuracy (real footage does
that, see docs/vision.md); it gives the detector real frames with a person-like blob
whose movements have known timing, so tests and simulated cameras exercise the whole
pipeline. A dark figure (an ellipse body and a round head) on a textured light room, 320x240 at
15 fps, with sensor noise. Each scene is a list of key poses; frames between them are
interpolated, so the speed of a movement is set by the time between its key poses.
The first frame already shows the person (as real footage does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 320, 240, 15.0
BODY_HEIGHT = 120  # pixels, standing, feet to top of head


FLOOR_ROW = 205.0  # where the feet of a figure standing on the floor are


@dataclass(frozen=True)
class Pose:
    """Where the figure is at time ``t``: feet position, tilt and how much it folds."""

    t: float
    x: float
    tilt: float = 0.0    # degrees from upright; 90 = lying along the floor
    fold: float = 1.0    # share of the standing height kept (0.6 seated, 0.5 bent)
    y: float = FLOOR_ROW  # the feet's row: higher on a bed, further down nearer the camera


@dataclass(frozen=True)
class Furniture:
    """A plain box in the room (a bed, a chair): ``(x, y, w, h)`` in pixels, a grey level."""

    box: tuple[int, int, int, int]
    grey: int = 150


def room(seed: int = 1, furniture: tuple[Furniture, ...] = ()) -> np.ndarray:
    """The empty room the figures are drawn in."""
    frame = _room(seed)
    for item in furniture:
        x, y, w, h = item.box
        cv2.rectangle(frame, (x, y), (x + w, y + h), (item.grey,) * 3, -1)
    return frame


def _room(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    room = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    texture = rng.integers(-12, 12, (HEIGHT // 8, WIDTH // 8, 1)).repeat(8, 0).repeat(8, 1)
    room = np.clip(room.astype(int) + texture, 0, 255).astype(np.uint8)
    cv2.rectangle(room, (0, 200), (WIDTH, HEIGHT), (170, 180, 190), -1)  # floor
    return room


#: Figure colours (BGR body, head): the resident, then visitors and staff.
COLOURS = (((40, 40, 60), (50, 60, 90)), ((70, 30, 20), (60, 70, 100)),
           ((30, 60, 30), (50, 60, 90)))


def _draw(frame: np.ndarray, pose: Pose, colour: int = 0) -> None:
    body_colour, head_colour = COLOURS[colour % len(COLOURS)]
    feet = np.array([pose.x, pose.y])
    length = BODY_HEIGHT * pose.fold
    angle = np.radians(pose.tilt)
    axis = np.array([np.sin(angle), -np.cos(angle)])  # from feet towards the head
    body_len = length * 0.82
    centre = feet + axis * body_len / 2
    head = feet + axis * (body_len + 10)
    width = 18 + 10 * (1.0 - pose.fold)  # a folded body bulges sideways
    cv2.ellipse(frame, (int(centre[0]), int(centre[1])), (int(width), int(body_len / 2)),
                float(pose.tilt), 0, 360, body_colour, -1)
    cv2.circle(frame, (int(head[0]), int(head[1])), 11, head_colour, -1)


def render(poses: list[Pose], seed: int = 1) -> list[tuple[np.ndarray, float]]:
    """Frames ``(bgr, t)`` from the first to the last key pose."""
    return list(frames(poses, seed))


def frames(poses: list[Pose], seed: int = 1) -> Iterator[tuple[np.ndarray, float]]:
    """The same frames one at a time, drawn only when asked for (a camera watching a
    scene can stop as soon as it has seen enough)."""
    return people_frames([poses], seed)


def render_people(people: list[list[Pose]], seed: int = 1,
                  furniture: tuple[Furniture, ...] = ()) -> list[tuple[np.ndarray, float]]:
    """Several figures in one room (each a list of key poses; the first is drawn last,
    in front), with furniture; the clip lasts until the last key pose of any figure."""
    return list(people_frames(people, seed, furniture))


def people_frames(people: list[list[Pose]], seed: int = 1,
                  furniture: tuple[Furniture, ...] = ()) -> Iterator[tuple[np.ndarray, float]]:
    empty = room(seed, furniture)
    rng = np.random.default_rng(seed + 1)
    n = int(round(max(poses[-1].t for poses in people) * FPS)) + 1
    for i in range(n):
        t = i / FPS
        frame = empty.copy()
        for colour in reversed(range(len(people))):
            pose = _at(people[colour], t)
            if pose is not None:
                _draw(frame, pose, colour)
        noisy = rng.standard_normal(frame.shape, dtype=np.float32)   # sensor noise, sigma 2
        noisy *= 2.0
        noisy += frame
        yield np.clip(noisy, 0, 255, out=noisy).astype(np.uint8), t


def _at(poses: list[Pose], t: float) -> Pose | None:
    """The figure's pose at ``t`` (linear between key poses); None before its first."""
    if t < poses[0].t - 1e-9:
        return None
    k = max(j for j in range(len(poses)) if poses[j].t <= t + 1e-9)
    a, b = poses[k], poses[min(k + 1, len(poses) - 1)]
    u = 0.0 if b.t == a.t else min(1.0, (t - a.t) / (b.t - a.t))
    return Pose(t, *(va + u * (vb - va) for va, vb in
                     zip((a.x, a.tilt, a.fold, a.y), (b.x, b.tilt, b.fold, b.y))))


def walk(t0: float, x0: float, t1: float, x1: float) -> list[Pose]:
    """Walking is the feet moving with a little sway, so the figure is never frozen."""
    steps = max(1, int((t1 - t0) * 3))
    return [Pose(t0 + (t1 - t0) * i / steps, x0 + (x1 - x0) * i / steps,
                 tilt=4.0 if i % 2 else -4.0) for i in range(steps + 1)]


SCENES: dict[str, list[Pose]] = {
    # stands in view from the first frame, walks, falls in 0.6 s, lies still 14 s
    "fall": [Pose(0, 80), *walk(1.0, 80, 2.5, 150), Pose(2.6, 150), Pose(3.2, 150, tilt=88),
             Pose(17.0, 150, tilt=88)],
    # ... falls, lies for 3 s, then gets up (slowly, through sitting) and walks away
    "fall_and_get_up": [Pose(0, 80), *walk(1.0, 80, 2.5, 150), Pose(2.6, 150),
                        Pose(3.2, 150, tilt=88), Pose(6.0, 150, tilt=88),
                        Pose(7.5, 150, tilt=0, fold=0.6), Pose(8.5, 150),
                        *walk(8.6, 150, 11.0, 220)],
    # walks, sits down on a (invisible) chair in 1.2 s, sits for 5 s
    "sit": [Pose(0, 80), *walk(1.0, 80, 2.5, 150), Pose(2.6, 150), Pose(3.8, 150, fold=0.62),
            Pose(9.0, 150, fold=0.62)],
    # walks, bends to pick something up (0.5 s down, 0.5 s there, 0.6 s up), walks on
    "bend": [Pose(0, 80), *walk(1.0, 80, 2.5, 150), Pose(2.6, 150), Pose(3.1, 150, fold=0.5),
             Pose(3.6, 150, fold=0.5), Pose(4.2, 150), *walk(4.3, 150, 6.5, 220), Pose(8.0, 220)],
    # walks to the bed on the right and lies down on it quickly, stays
    "lie_on_bed": [Pose(0, 80), *walk(1.0, 80, 3.0, 200), Pose(3.1, 200),
                   Pose(3.7, 200, tilt=85), Pose(9.0, 200, tilt=85)],
}

#: When each scene's key movement starts (seconds into the clip): the fall, sitting down,
#: bending, lying down. A simulated camera lines this moment up with the scripted event.
ONSET: dict[str, float] = {"fall": 2.6, "fall_and_get_up": 2.6, "sit": 2.6, "bend": 2.6,
                           "lie_on_bed": 3.1}

#: The bed in "lie_on_bed", in frame fractions (x, y) for a zone polygon.
BED_ZONE = [[0.72, 0.55], [1.0, 0.55], [1.0, 1.0], [0.72, 1.0]]

