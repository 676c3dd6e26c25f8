"""The fall-recognition core: frames with timestamps in, fall events out.

``Detector.process(camera_id, frame, t)`` does no I/O and never reads the clock: ``t``
is the frame's own timestamp in seconds, so a recorded clip, a live stream and a test
all drive it the same way. It keeps one state per camera and many cameras can share one
detector.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Protocol

import cv2
import numpy as np

from carefleet.errors import InputError, SourceError
from carefleet.vision.config import CameraConfig, default_config
from carefleet.vision.events import FallEvent
from carefleet.vision.fall_machine import FallMachine, FallState
from carefleet.vision.features import Features, FeatureTracker
from carefleet.vision.person import Observation, PersonFinder, overlaps

#: Tolerance on the processing schedule, as a share of the frame interval, so that
#: timestamp jitter does not drop a frame that is due.
_SCHEDULE_SLACK = 0.1


class Backend(Protocol):
    """Finds the person in one processed frame (OpenCV background model or pose)."""

    def observe(self, frame: np.ndarray, t: float) -> Observation | None: ...


class _OpenCvBackend:
    """Adapts ``PersonFinder`` (grey input) to the ``Backend`` protocol."""

    def __init__(self, config: CameraConfig) -> None:
        self.finder = PersonFinder(config.person)

    def observe(self, frame: np.ndarray, t: float) -> Observation | None:
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        return self.finder.observe(grey, t)


def make_backend(config: CameraConfig) -> Backend:
    """The backend the config asks for; ``auto`` takes pose when mediapipe is installed."""
    if config.backend == "opencv":
        return _OpenCvBackend(config)
    from carefleet.vision import pose  # imported here: mediapipe is an optional extra

    if pose.available():
        return pose.PoseBackend()
    if config.backend == "auto":
        return _OpenCvBackend(config)
    raise InputError("backend", "the pose backend needs mediapipe: pip install 'carefleet[pose]'",
                     field="backend")


def uses_pose(backend: Backend) -> bool:
    """Whether a backend from ``make_backend`` is the pose one (``auto`` may be either)."""
    return not isinstance(backend, _OpenCvBackend)


def fuse(pose: Observation | None, silhouette: Observation | None) -> str:
    """Which finding to believe this frame on the pose path: ``"pose"`` or ``"silhouette"``.

    Landmarks are preferred: they need no background, so a person already in view at the
    start or standing still for minutes is seen whole. But MediaPipe loses a person lying
    on the floor (foreshortened, limbs overlapping) or jumps to a phantom skeleton in the
    furniture mid-fall, which is exactly when a fall ends; the moving silhouette does not.
    So the silhouette is believed when there are no landmarks, or when the landmarks are
    somewhere the moving person is not (no overlap). Where both see the same person the
    landmarks win, which also vetoes a silhouette made of fragments of a standing person.
    """
    if silhouette is not None and (pose is None or not overlaps(pose.box, silhouette.box)):
        return "silhouette"
    return "pose"


class CameraState:
    """Everything the detector remembers about one camera."""

    def __init__(self, camera_id: str, config: CameraConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self.backend = make_backend(config)
        self.pose = uses_pose(self.backend)
        fall = config.fall_for("pose" if self.pose else "opencv")
        self.tracker = FeatureTracker(fall)
        self.fall = fall
        """The fall thresholds in use (the pose backend has its own, see the config)."""
        # The pose path keeps the silhouette finder running beside the landmarks (about
        # 1 ms a frame against MediaPipe's 20), each with its own geometry history, and
        # feeds the fall machine whichever ``fuse`` believes.
        self.fallback = _OpenCvBackend(config) if self.pose else None
        self.fallback_tracker = FeatureTracker(fall) if self.pose else None
        self.machine: FallMachine | None = None
        self.last_t: float | None = None
        self.due_t = -math.inf
        """When the next frame should be processed (the configured processing rate)."""
        self.scale = 1.0
        self.features = Features(t=0.0, present=False)
        """The features of the last processed frame (for reports and diagnostics)."""
        self.observation: Observation | None = None
        """What the backend saw in the last processed frame."""
        self.silhouette: np.ndarray | None = None
        """The person's mask in the last processed frame (never the frame itself)."""

    @property
    def state(self) -> FallState:
        return self.machine.state if self.machine else FallState.UPRIGHT


class Detector:
    """Runs the fall pipeline for any number of cameras."""

    def __init__(self, config: CameraConfig | None = None,
                 cameras: dict[str, CameraConfig] | None = None) -> None:
        """``config`` serves every camera not named in ``cameras``."""
        self.config = config or default_config()
        self._configs = dict(cameras or {})
        self._cameras: dict[str, CameraState] = {}

    def camera(self, camera_id: str) -> CameraState:
        """The state of one camera, created on first use."""
        if camera_id not in self._cameras:
            config = self._configs.get(camera_id, self.config)
            self._cameras[camera_id] = CameraState(camera_id, config)
        return self._cameras[camera_id]

    def process(self, camera_id: str, frame: np.ndarray, t: float) -> list[FallEvent]:
        """Feed one BGR frame taken at ``t`` seconds; returns the events it raised.

        Frames faster than the camera's configured rate are skipped. A frame that is
        not an image, or that goes back in time, is the source's fault: ``SourceError``,
        and the camera's state is left as it was.
        """
        camera = self.camera(camera_id)
        _check_frame(camera_id, frame)
        if camera.last_t is not None and t < camera.last_t:
            raise SourceError(f"camera {camera_id}: frame time {t:.3f} s is before the "
                              f"previous frame's {camera.last_t:.3f} s")
        interval = 1.0 / camera.config.fps
        if t < camera.due_t - _SCHEDULE_SLACK * interval:
            return []
        # Keep the average rate (an 18 fps clip processed at 15 keeps 5 frames in 6)
        # but never run behind after a gap in the stream.
        camera.due_t += interval
        if camera.due_t <= t:
            camera.due_t = t + interval
        camera.last_t = t
        small = _resize(frame, camera.config.width)
        if camera.machine is None:
            camera.scale = frame.shape[1] / small.shape[1]
            camera.machine = FallMachine(camera_id, camera.fall, camera.config.zones,
                                         (small.shape[1], small.shape[0]))
        observation = camera.backend.observe(small, t)
        features = camera.tracker.update(observation, t)
        if camera.fallback is not None and camera.fallback_tracker is not None:
            silhouette = camera.fallback.observe(small, t)
            silhouette_features = camera.fallback_tracker.update(silhouette, t)
            if fuse(observation, silhouette) == "silhouette":
                observation, features = silhouette, silhouette_features
        camera.observation, camera.features = observation, features
        camera.silhouette = observation.mask if observation else None
        events = camera.machine.update(camera.features)
        return [self._finish(camera, event) for event in events]

    def _finish(self, camera: CameraState, event: FallEvent) -> FallEvent:
        """Scale the box back to the original frame and attach the privacy-safe snapshot."""
        box = tuple(int(round(v * camera.scale)) for v in event.box)
        snapshot = None
        if camera.config.snapshot == "silhouette" and camera.silhouette is not None:
            ok, png = cv2.imencode(".png", camera.silhouette)
            snapshot = png.tobytes() if ok else None
        return replace(event, box=box, snapshot=snapshot)


def _check_frame(camera_id: str, frame: object) -> None:
    if (not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3
            or frame.shape[2] != 3 or frame.shape[0] < 16 or frame.shape[1] < 16):
        what = (f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray)
                else type(frame).__name__)
        raise SourceError(f"camera {camera_id}: expected a BGR uint8 image, got {what}")


def _resize(frame: np.ndarray, width: int) -> np.ndarray:
    if frame.shape[1] == width:
        return frame
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
