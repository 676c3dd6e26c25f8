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
from carefleet.vision.scale import BodyScale

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

    def observe_all(self, frame: np.ndarray, t: float) -> list[Observation]:
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        return self.finder.observe_all(grey, t)

    def observe(self, frame: np.ndarray, t: float) -> Observation | None:
        people = self.observe_all(frame, t)
        return people[0] if people else None


def make_backend(config: CameraConfig) -> Backend:
    """The backend the config asks for; ``auto`` takes pose when mediapipe is installed
    and loads, and falls back to OpenCV alone where it does not."""
    if config.backend == "opencv":
        return _OpenCvBackend(config)
    from carefleet.vision import pose  # imported here: mediapipe may not be installed

    if pose.available():
        try:
            return pose.PoseBackend()
        except ImportError as error:  # installed without what it needs at run time
            if config.backend == "pose":
                raise InputError("backend", f"the pose backend cannot load mediapipe: "
                                 f"{error}", field="backend") from None
    if config.backend == "auto":
        return _OpenCvBackend(config)
    raise InputError("backend", "the pose backend needs mediapipe (installed by `make`; "
                     "see README, Fall recognition)", field="backend")


def uses_pose(backend: Backend) -> bool:
    """Whether a backend from ``make_backend`` is the pose one (``auto`` may be either)."""
    return not isinstance(backend, _OpenCvBackend)


def fuse(pose: Observation | None, silhouette: Observation | None) -> str:
    """Which finding to believe for one person on the pose path: ``"pose"`` or
    ``"silhouette"``.

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


#: The person the landmarks follow while no silhouette overlaps them (standing still
#: since the first frame, say); the silhouette finder numbers its people from 1.
LANDMARKS_ONLY = 0
#: Fall states in the order of concern: the camera reports its most concerning person.
_CONCERN = {FallState.UPRIGHT: 0, FallState.DESCENDING: 1, FallState.DOWN: 2,
            FallState.STILL: 3, FallState.ALARM: 4}


class PersonTrack:
    """One person on one camera: their geometry history and their own fall state."""

    def __init__(self, key: int, camera: CameraState, frame_size: tuple[int, int]) -> None:
        self.key = key
        silhouette = camera.config.fall
        self.tracker = FeatureTracker(silhouette, camera.silhouette_scale, key)
        self.machine = FallMachine(camera.camera_id, silhouette, camera.config.zones,
                                   frame_size, person=key,
                                   landmark_settings=camera.fall if camera.pose else None)
        self.features = Features(t=0.0, present=False)
        self.observation: Observation | None = None
        self.seen = False
        """Whether the finder still follows this person."""
        self.last_seen_t = -math.inf
        self.last_box: tuple[int, int, int, int] | None = None

    @property
    def fallen(self) -> bool:
        return self.machine.state in (FallState.DOWN, FallState.STILL, FallState.ALARM)


class CameraState:
    """Everything the detector remembers about one camera."""

    def __init__(self, camera_id: str, config: CameraConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self.backend = make_backend(config)
        self.pose = uses_pose(self.backend)
        fall = config.fall_for("pose" if self.pose else "opencv")
        self.fall = fall
        """The fall thresholds of the main backend: on the pose path the landmark ones
        (see the config), which judge landmark geometry; silhouettes keep ``fall``."""
        # The pose path keeps the silhouette finder running beside the landmarks (about
        # 1 ms a frame against MediaPipe's 20): the silhouettes find every moving person,
        # the landmarks (one person) replace the silhouette geometry of the person they
        # are on (see ``fuse``).
        self.silhouettes = self.backend if not self.pose else _OpenCvBackend(config)
        self.silhouette_scale: BodyScale | None = None
        self.landmark_scale: BodyScale | None = None
        self.landmarks: FeatureTracker | None = None
        self.landmarks_owner = LANDMARKS_ONLY
        """The person the landmarks were last on, and when (``Detector._landmarks_owner``)."""
        self.landmarks_t = -math.inf
        self.people: dict[int, PersonTrack] = {}
        self.last_t: float | None = None
        self.due_t = -math.inf
        """When the next frame should be processed (the configured processing rate)."""
        self.scale = 1.0
        self.frame_size: tuple[int, int] | None = None
        self.features = Features(t=0.0, present=False)
        """The features of the last processed frame for the camera's main person (the
        one whose fall is furthest along), for reports and diagnostics."""
        self.observation: Observation | None = None
        """What the backend saw of that person in the last processed frame."""
        self.silhouette: np.ndarray | None = None
        """That person's mask in the last processed frame (never the frame itself)."""

    @property
    def machine(self) -> FallMachine | None:
        """The fall machine of the camera's main person (None before the first frame)."""
        main = self.main_person()
        return main.machine if main else None

    @property
    def state(self) -> FallState:
        main = self.main_person()
        return main.machine.state if main else FallState.UPRIGHT

    def main_person(self) -> PersonTrack | None:
        """The person whose fall is furthest along; among equals the one seen now, then
        the one followed longest."""
        if not self.people:
            return None
        return max(self.people.values(),
                   key=lambda p: (_CONCERN[p.machine.state], p.features.present, -p.key))

    def start(self, small: np.ndarray, frame_width: int) -> None:
        self.scale = frame_width / small.shape[1]
        self.frame_size = (small.shape[1], small.shape[0])
        self.silhouette_scale = BodyScale(self.config.mounting, self.frame_size)
        if self.pose:
            self.landmark_scale = BodyScale(self.config.mounting, self.frame_size)
            self.landmarks = FeatureTracker(self.fall, self.landmark_scale, LANDMARKS_ONLY,
                                            silhouette=False)

    def person(self, key: int) -> PersonTrack:
        if key not in self.people:
            assert self.frame_size is not None
            self.people[key] = PersonTrack(key, self, self.frame_size)
        return self.people[key]


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
        if camera.frame_size is None:
            camera.start(small, frame.shape[1])
        events: list[FallEvent] = []
        for person, features in self._people(camera, small, t):
            person.features = features
            events += person.machine.update(features)
        main = camera.main_person()
        if main is not None:
            camera.features, camera.observation = main.features, main.observation
        else:
            camera.features, camera.observation = Features(t=t, present=False), None
        camera.silhouette = camera.observation.mask if camera.observation else None
        return [self._finish(camera, event) for event in events]

    def _people(self, camera: CameraState, small: np.ndarray,
                t: float) -> list[tuple[PersonTrack, Features]]:
        """Each person's features this frame (absent ones too, for their fall clocks)."""
        landmarks = camera.backend.observe(small, t) if camera.pose else None
        silhouettes = camera.silhouettes.observe_all(small, t)
        for kept, gone in camera.silhouettes.finder.merged:
            _merge(camera, kept, gone)
        for person in camera.people.values():
            person.seen = False
        seen: dict[int, tuple[Observation, Features]] = {}
        for observation in silhouettes:
            if observation.track not in camera.people:
                self._reidentify(camera, observation, t)
            person = camera.person(observation.track)
            person.seen = True
            seen[person.key] = (observation, person.tracker.update(observation, t))
        if camera.landmarks is not None:
            landmark_features = camera.landmarks.update(landmarks, t)
            if landmarks is not None:
                on = max((o for o, _ in seen.values() if overlaps(o.box, landmarks.box)),
                         key=lambda o: _overlap_area(o.box, landmarks.box), default=None)
                key = on.track if on is not None else self._landmarks_owner(camera, t)
                camera.person(key).seen = True
                seen[key] = (landmarks, landmark_features)
                camera.landmarks_owner, camera.landmarks_t = key, t
        result = []
        for key, person in list(camera.people.items()):
            if key in seen:
                person.observation, features = seen[key]
                person.last_seen_t, person.last_box = t, person.observation.box
                result.append((person, features))
                continue
            person.observation = None
            result.append((person, Features(t=t, present=False)))
            if (not person.seen and not person.fallen and key != LANDMARKS_ONLY
                    and t - person.last_seen_t > camera.fall.descent_window_s):
                del camera.people[key]  # the finder let them go: they left the view
        return result

    @staticmethod
    def _landmarks_owner(camera: CameraState, t: float) -> int:
        """Whose landmarks these are when no silhouette overlaps them: the person they
        were on a moment ago, if the silhouette finder lost that person this frame (a body
        hitting the floor stops moving as a whole, and a fall along the camera's line of
        sight hardly changes the image), so their fall goes on with the same history;
        else the landmarks-only person."""
        owner = camera.people.get(camera.landmarks_owner)
        if (owner is not None and not owner.seen
                and t - camera.landmarks_t <= camera.fall.descent_window_s):
            return owner.key
        return LANDMARKS_ONLY

    @staticmethod
    def _reidentify(camera: CameraState, observation: Observation, t: float) -> None:
        """A new track where a person the finder just lost was: the same person (a
        frame in which they did not move enough to be found), so their history goes on."""
        for key, person in list(camera.people.items()):
            if (key != LANDMARKS_ONLY and not person.seen and person.last_box is not None
                    and t - person.last_seen_t <= camera.fall.descent_window_s
                    and overlaps(person.last_box, observation.box)):
                del camera.people[key]
                person.key = observation.track
                person.machine.person = observation.track
                camera.people[observation.track] = person
                return

    def _finish(self, camera: CameraState, event: FallEvent) -> FallEvent:
        """Scale the box back to the original frame and attach the privacy-safe snapshot."""
        box = tuple(int(round(v * camera.scale)) for v in event.box)
        snapshot = None
        person = camera.people.get(event.person)
        mask = person.observation.mask if person and person.observation else None
        if camera.config.snapshot == "silhouette" and mask is not None:
            ok, png = cv2.imencode(".png", mask)
            snapshot = png.tobytes() if ok else None
        return replace(event, box=box, snapshot=snapshot)


def _merge(camera: CameraState, kept: int, gone: int) -> None:
    """The finder found two of its tracks to be one body: keep one person, the one whose
    fall is further along (else the one followed longer), under the kept number."""
    a, b = camera.people.get(kept), camera.people.get(gone)
    if b is None:
        return
    del camera.people[gone]
    if a is None or _CONCERN[b.machine.state] > _CONCERN[a.machine.state]:
        b.key = b.machine.person = kept
        camera.people[kept] = b


def _overlap_area(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


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
