"""Fall-recognition throughput per core: prints figures, asserts nothing.

Frames are synthetic (a person walking and falling, drawn with OpenCV) and rendered
before timing, so the figures are the detector's own cost without video decoding.
OpenCV is limited to one thread so "per core" means what it says; MediaPipe runs its
own thread pool, so its figure is per process on this machine.

    python bench/vision_bench.py
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "vision"))
from vision_clips import SCENES, render  # noqa: E402  (the tests' synthetic clips)

from carefleet.vision import pose  # noqa: E402
from carefleet.vision.config import default_config  # noqa: E402
from carefleet.vision.detector import Detector  # noqa: E402

CAMERA_FPS = 15.0
ROUNDS = 3


def frames_per_second(backend: str, width: int, height: int) -> float:
    """Best of a few rounds of the whole pipeline at the given processing size."""
    clip = [(cv2.resize(frame, (width, height)), t) for frame, t in render(SCENES["fall"])]
    config = replace(default_config(), backend=backend, width=width, fps=1000.0)
    best = 0.0
    for _ in range(ROUNDS):
        detector = Detector(config)
        start = time.perf_counter()
        for frame, t in clip:
            detector.process("bench", frame, t)
        best = max(best, len(clip) / (time.perf_counter() - start))
    return best


def main() -> None:
    cv2.setNumThreads(1)
    rows = [("opencv", 320, 240), ("opencv", 640, 480)]
    if pose.available():
        rows.append(("pose", 320, 240))
    else:
        print("pose backend: mediapipe not installed (pip install 'carefleet[pose]'), skipped")
    print(f"{'backend':8s} {'size':>8s} {'fps/core':>9s} {'15-fps cameras/core':>20s}")
    for backend, width, height in rows:
        fps = frames_per_second(backend, width, height)
        print(f"{backend:8s} {width:>4d}x{height:<3d} {fps:9.0f} {fps / CAMERA_FPS:20.1f}")


if __name__ == "__main__":
    main()
