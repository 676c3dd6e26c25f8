"""Test helpers over ``carefleet.vision.synthetic``: the clips, and writing them as real videos."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from carefleet.vision.detector import Detector
from carefleet.vision.events import FallEvent
from carefleet.vision.synthetic import BED_ZONE, FPS, HEIGHT, SCENES, WIDTH, render

__all__ = ["BED_ZONE", "FPS", "HEIGHT", "SCENES", "WIDTH", "Clip", "corrupt_frames", "render",
           "run", "truncate", "write_video"]

Clip = list[tuple[np.ndarray, float]]


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
