"""A camera over ROS: ``sensor_msgs/Image`` frames of a fall, watched by the fall-core
node, become an urgent fall response in that camera's room and a robot drives there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.qos import QoSProfile  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from carefleet.ros.common import QOS_API  # noqa: E402
from carefleet.ros.fall_node import CAMERA_FRAMES, bgr_to_image, image_to_bgr  # noqa: E402
from carefleet.vision.synthetic import SCENES, frames  # noqa: E402

from ros_helpers import Client, Proc, Ward, wait_for  # noqa: E402


def test_images_round_trip_in_every_supported_encoding() -> None:
    frame, _ = next(iter(frames(SCENES["fall"], seed=1)))
    msg = bgr_to_image(frame, 12.5)
    assert (image_to_bgr(msg) == frame).all()
    msg.encoding, msg.data = "rgb8", frame[:, :, ::-1].tobytes()
    assert (image_to_bgr(msg) == frame).all()
    with pytest.raises(ValueError, match="encoding"):
        msg.encoding = "yuv422"
        image_to_bgr(msg)


def test_a_fall_on_a_camera_topic_dispatches_a_robot(tmp_path: Path, client: Client) -> None:
    client.reset()
    ward = Ward(tmp_path)
    ward.procs["fall_core"] = Proc("fall_core", "carefleet.ros.fall_node", {
        "cameras.cam_203.room": "room_203", "cameras.cam_203.topic": "/ward/cam_203/image"},
        tmp_path)
    try:
        ward.wait_ready(client)
        camera = client.node.create_publisher(Image, "/ward/cam_203/image", QoSProfile(depth=50))
        judged: list[int] = [0]
        client.node.create_subscription(
            String, f"/{CAMERA_FRAMES}", lambda m: judged.append(json.loads(m.data)["frames"]),
            QOS_API)
        wait_for(lambda: camera.get_subscription_count() > 0, 20, "the fall core on the topic")
        for sent, (frame, t) in enumerate(frames(SCENES["fall"], seed=3), 1):
            camera.publish(bgr_to_image(frame, 1000.0 + t, "cam_203"))
            # in step with the fall core, however slow this machine is: none dropped
            wait_for(lambda: judged[-1] >= sent, 30, lambda: f"frame {sent} judged")
            if any(t["kind"] == "fall_response" for t in (client.fleet or {}).get("tasks", [])):
                break

        def fall_task() -> Any:
            tasks = (client.fleet or {}).get("tasks", [])
            return next((t for t in tasks if t["kind"] == "fall_response"), None)
        task = wait_for(fall_task, 20, "a fall response task")
        assert task["priority"] == "urgent" and "room_203" in task["places"], task
        robot = wait_for(lambda: (fall_task() or {}).get("robot"), 20, "a robot dispatched")
        wait_for(lambda: (client.robot(robot) or {}).get("state") == "navigating", 20,
                 f"{robot} on its way to room 203")
        assert any(a.get("type") == "notify" and a.get("key") == "fall_detected"
                   for a in client.alerts)
    finally:
        codes = ward.stop()
        print(ward.logs())
    assert set(codes.values()) == {0}, codes
