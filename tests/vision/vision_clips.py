"""Test helpers over ``carefleet.vision.synthetic``: the clips, and writing them as real videos."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from dataclasses import replace

from carefleet.vision.config import Mounting, default_config
from carefleet.vision.detector import Detector
from carefleet.vision.events import FallEvent
from carefleet.vision.synthetic import (BED_ZONE, FPS, HEIGHT, SCENES, WIDTH, Furniture, Pose,
                                        render, render_people, walk)

__all__ = ["BED_ON_RIGHT", "BED_ZONE", "FPS", "OPENCV", "HARD_SCENES", "HEIGHT", "SCENES", "WIDTH", "Clip",
           "corrupt_frames", "render", "render_hard", "run", "truncate", "write_video"]

Clip = list[tuple[np.ndarray, float]]

#: The defaults on the OpenCV path alone. The drawn figures are no people to MediaPipe
#: (it finds nobody in them, so the default path would judge them by their silhouettes
#: all the same, twenty times slower): tests of the silhouette path use this.
OPENCV = replace(default_config(), backend="opencv")


def run(detector: Detector, clip: Iterable[tuple[np.ndarray, float]],
        camera_id: str = "cam") -> list[FallEvent]:
    """Feed a whole clip to one camera of the detector; all the events it raised.

    (Test modules import helpers from here, never from ``conftest``: several test
    folders have a conftest, and which one ``import conftest`` finds depends on order.)
    """
    events: list[FallEvent] = []
    for frame, t in clip:
        events += detector.process(camera_id, frame, t)
    return events


def write_video(path: Path, frames: list[tuple[np.ndarray, float]]) -> Path:
    """Write frames as a real video file (MJPG in AVI: in every OpenCV build)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for frame, _ in frames:
        writer.write(frame)
    writer.release()
    return path


def _frame_chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each frame's JPEG data in an MJPG AVI written by ``write_video``."""
    chunks, i = [], data.index(b"movi") + 4
    while data[i:i + 4] == b"00dc":
        size = struct.unpack("<I", data[i + 4:i + 8])[0]
        chunks.append((i + 8, size))
        i += 8 + size + (size & 1)
    return chunks


def corrupt_frames(video: Path, out: Path, frames: Iterable[int]) -> Path:
    """Copy ``video`` with the JPEG data of ``frames`` zeroed (the start marker kept):
    the container stays intact, and OpenCV fails to decode exactly those frames."""
    data = bytearray(video.read_bytes())
    chunks = _frame_chunks(bytes(data))
    for frame in frames:
        offset, size = chunks[frame]
        data[offset + 2:offset + size] = bytes(size - 2)
    out.write_bytes(bytes(data))
    return out


def truncate(video: Path, out: Path, keep_frames: int) -> Path:
    """Copy ``video`` cut off right after the first ``keep_frames`` frames, a few bytes
    into the next one (its header still counts every frame, as after an interrupted
    copy or recording)."""
    data = video.read_bytes()
    offset, _ = _frame_chunks(data)[keep_frames]
    out.write_bytes(data[:offset + 4])
    return out


# -- harder scenes: the failure classes of footage from unseen rooms ---------------------

#: A low bed on the right of the room (its mattress top at row 165) and its zone.
BED = Furniture(box=(190, 150, 125, 20), grey=230)
BED_ON_RIGHT = [[0.58, 0.55], [1.0, 0.55], [1.0, 0.75], [0.58, 0.75]]
MATTRESS_ROW = 158.0  # where a figure lying on the bed has its axis


def _stir(t0: float, t1: float, x: float, y: float, tilt: float = 88.0,
          fold: float = 1.0) -> list[Pose]:
    """Lying (or sitting) and moving a little: turning over, breathing."""
    steps = max(1, int((t1 - t0) * 2))
    return [Pose(t0 + (t1 - t0) * i / steps, x + (3 if i % 2 else -3), tilt, fold, y)
            for i in range(steps + 1)]


HARD_SCENES: dict[str, list[list[Pose]]] = {
    # lying in bed from the first frame, stirring; rolls off onto the floor in 0.8 s
    "roll_off_bed": [[*_stir(0.0, 4.0, 200, MATTRESS_ROW), Pose(4.8, 150, 88, 1.0),
                      Pose(14.0, 150, 88, 1.0)]],
    # lying in bed, sits up on its edge, stands up beside it and walks away
    "get_out_of_bed": [[*_stir(0.0, 3.0, 200, MATTRESS_ROW), Pose(4.5, 205, 0, 0.6, 168),
                        Pose(6.0, 205, 0, 0.6, 168), Pose(7.5, 175, 0, 1.0),
                        *walk(7.6, 175, 10.0, 60), Pose(11.0, 60)]],
    # falls at x=150 and lies still; a visitor walks right across in front of them
    "fall_then_passer_by": [
        [Pose(0, 80), *walk(1.0, 80, 2.5, 150), Pose(2.6, 150), Pose(3.2, 150, tilt=88),
         Pose(20.0, 150, tilt=88)],
        [Pose(6.0, 310), *walk(6.0, 310, 12.0, 10), Pose(13.0, 10)]],
    # a visitor sits still beside where the resident walks up and falls
    "fall_beside_seated_visitor": [
        [Pose(0, 40), *walk(1.0, 40, 4.0, 170), Pose(4.1, 170), Pose(4.7, 170, tilt=-88),
         Pose(17.0, 170, tilt=-88)],
        [*_stir(0.0, 17.0, 250, 205, tilt=0.0, fold=0.62)]],
    # a visitor walks past a resident who stands and then sits: nothing happens
    "passer_by_and_sitting": [
        [Pose(0, 120), *walk(1.0, 120, 2.5, 150), Pose(2.6, 150), Pose(3.8, 150, fold=0.62),
         Pose(12.0, 150, fold=0.62)],
        [Pose(4.0, 310), *walk(4.0, 310, 10.0, 10), Pose(11.0, 10)]],
    # walks in close to the camera (feet near the bottom edge) and falls sideways, the
    # lying body mostly below the bottom of the view
    "fall_out_of_view": [[*(Pose(p.t, p.x, p.tilt, y=228) for p in walk(0.0, -30, 2.5, 120)),
                          Pose(2.6, 120, y=228), Pose(3.2, 120, tilt=88, y=250),
                          Pose(15.0, 120, tilt=88, y=250)]],
    # seated facing the camera from the first frame (never seen standing), lies down on
    # the floor in 1.8 s: fast for a seated body, a slow movement for a whole one
    "seated_lies_down": [[*_stir(0.0, 6.0, 150, 205, tilt=0.0, fold=0.62),
                          Pose(7.8, 150, 88, 0.9), Pose(13.0, 150, 88, 0.9)]],
    # ... after a visitor has walked about the right of the room for 5 s
    "seated_lies_down_after_a_walker": [
        [*_stir(0.0, 6.0, 150, 205, tilt=0.0, fold=0.62), Pose(7.8, 150, 88, 0.9),
         Pose(13.0, 150, 88, 0.9)],
        [*walk(0.0, 350, 2.5, 230), *walk(2.6, 230, 5.0, 290), *walk(5.1, 290, 5.8, 360),
         Pose(13.0, 360)]],
}
#: A camera 2.4 m up, tilted down 24 degrees, 50 degrees of vertical field of view: in the
#: synthetic room a 1.65 m person standing on the floor (feet at row 205) is 122 px tall,
#: as the figures are drawn.
SYNTHETIC_MOUNTING = Mounting(height_m=2.4, tilt_deg=24.0, vfov_deg=50.0, person_height_m=1.65)
HARD_FURNITURE: dict[str, tuple[Furniture, ...]] = {"roll_off_bed": (BED,),
                                                      "get_out_of_bed": (BED,)}


def render_hard(name: str, seed: int = 1) -> Clip:
    return render_people(HARD_SCENES[name], seed, HARD_FURNITURE.get(name, ()))
