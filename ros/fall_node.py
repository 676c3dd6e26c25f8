"""The fall core as a ROS 2 node: ``sensor_msgs/Image`` topics in, urgent fall tasks out.

Each camera's images (``bgr8``, ``rgb8``, ``mono8``; read best effort, so it matches
a camera driver's or ``ros_gz_bridge``'s publisher either way) go through
``carefleet.vision.detector.Detector`` with the frame's header stamp as its time. A
``fall_detected`` becomes ``{"request_id": "fall-<camera>-<n>", "fall": {"room", "source",
"confidence"}}`` on the orchestrator's ``task_api_requests`` (a ``FallDetected`` event:
an urgent fall response in that camera's room). Raw frames are never stored. How many
frames of each camera it has judged goes to ``carefleet/camera_frames`` (``{"camera",
"frames", "stamp"}``, while someone listens).

Parameters: ``cameras.<id>.room`` (required), ``cameras.<id>.topic`` (default
``/<id>/image_raw``), ``cameras.<id>.config`` (a camera configuration file, see README
"Fall recognition"); ``orchestrator_namespace`` (where the task API is; default ``/``).
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import Image
from std_msgs.msg import String

from carefleet.errors import CareFleetError, InputError
from carefleet.ros.common import (QOS_API, QOS_SENSOR, TASK_REQUESTS, json_message, new_node,
                                  param, params, spin_until_signal, start_ros, topic)

ENCODINGS = {"bgr8": 3, "rgb8": 3, "mono8": 1}


def image_to_bgr(msg: Image) -> np.ndarray:
    """A ``sensor_msgs/Image`` as an OpenCV BGR array (``ValueError`` if it is not one)."""
    channels = ENCODINGS.get(msg.encoding)
    if channels is None:
        raise ValueError(f"encoding '{msg.encoding}' is not one of {sorted(ENCODINGS)}")
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if msg.step < msg.width * channels or data.size < msg.step * msg.height:
        raise ValueError("image data shorter than its step x height")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if msg.encoding == "rgb8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if channels == 1:
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    return np.ascontiguousarray(pixels)


def bgr_to_image(frame: np.ndarray, stamp: float, frame_id: str = "camera") -> Image:
    """The other way (tests, simulated cameras): a BGR array as a ``bgr8`` image."""
    msg = Image()
    msg.header.stamp.sec = int(stamp)
    msg.header.stamp.nanosec = int((stamp - int(stamp)) * 1e9)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
    msg.encoding, msg.is_bigendian = "bgr8", 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(frame, dtype=np.uint8).tobytes()
    return msg


#: Where the fall core says how many frames of each camera it has judged.
CAMERA_FRAMES = "carefleet/camera_frames"


class FallNode:
    def __init__(self, node: Any) -> None:
        from carefleet.vision.config import default_config, load_camera_config
        from carefleet.vision.detector import Detector
        self.node = node
        self.log = node.get_logger()
        cameras = params(node, "cameras")
        if not cameras:
            raise InputError("parameters", "no cameras given (cameras.<id>.room)",
                             field="cameras")
        where = str(param(node, "orchestrator_namespace", "/"))
        self.requests = node.create_publisher(String, topic(where, TASK_REQUESTS), QOS_API)
        self.watched = node.create_publisher(String, topic(where, CAMERA_FRAMES), QOS_API)
        self.frames: dict[str, int] = {}
        self._count = itertools.count(1)
        self.cameras: dict[str, dict[str, Any]] = {}
        configs = {}
        for camera_id, spec in cameras.items():
            if not isinstance(spec, dict) or not spec.get("room"):
                raise InputError("parameters", f"cameras.{camera_id}.room must be given",
                                 field="cameras")
            if spec.get("config"):
                configs[camera_id] = load_camera_config(spec["config"])
            self.cameras[camera_id] = spec
        self.detector = Detector(default_config(), cameras=configs)
        for camera_id, spec in self.cameras.items():
            name = spec.get("topic") or f"/{camera_id}/image_raw"
            node.create_subscription(Image, name, lambda m, c=camera_id: self._on_image(c, m),
                                     QOS_SENSOR, callback_group=MutuallyExclusiveCallbackGroup())
            self.log.info(f"watching {name} ({camera_id}, {spec['room']})")
        self.bad_frames = 0

    def _on_image(self, camera_id: str, msg: Image) -> None:
        t = msg.header.stamp.sec + msg.header.stamp.nanosec / 1e9
        try:
            frame = image_to_bgr(msg)
            events = self.detector.process(camera_id, frame, t)
        except (ValueError, CareFleetError) as error:
            self.bad_frames += 1
            if self.bad_frames in (1, 10, 100, 1000):
                self.log.warning(f"{camera_id}: frame skipped ({error}); "
                                 f"{self.bad_frames} so far")
            return
        self._tell_watched(camera_id, t)
        from carefleet.vision.events import EventKind
        for event in events:
            if event.kind is EventKind.FALL_DETECTED:
                room = self.cameras[camera_id]["room"]
                confidence = min(max(float(event.confidence), 0.0), 1.0)
                self.log.warning(f"{camera_id}: fall detected in {room} ({confidence:.0%})")
                self.requests.publish(json_message({
                    "request_id": f"fall-{camera_id}-{next(self._count)}",
                    "requester": f"camera:{camera_id}",
                    "fall": {"room": room, "source": camera_id, "confidence": confidence}}))


    def _tell_watched(self, camera_id: str, t: float) -> None:
        """Frames judged so far, per camera (to whoever listens: a monitor, a test that
        must not outrun a slow machine); nothing is sent when nobody listens."""
        self.frames[camera_id] = self.frames.get(camera_id, 0) + 1
        if self.watched.get_subscription_count():
            self.watched.publish(json_message({"camera": camera_id, "frames":
                                               self.frames[camera_id], "stamp": t}))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    start_ros(argv)
    node = new_node("carefleet_fall_core")
    try:
        FallNode(node)
    except CareFleetError as error:
        print(f"carefleet: error: {error}", file=sys.stderr)
        node.destroy_node()
        return 2
    return spin_until_signal([node], executor=MultiThreadedExecutor(num_threads=2))


if __name__ == "__main__":
    sys.exit(main())
