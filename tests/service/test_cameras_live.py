"""Ward cameras watched live by the fall core: a fall on a camera becomes an urgent fall
response in that camera's room; a camera that drops is reported to staff and retried."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2

from carefleet.vision.synthetic import FPS, HEIGHT, SCENES, WIDTH, render

SITE = """\
name: Camera test ward
ward: demo_ward
fleet:
  profiles:
    bot: {{model: T, speed: 0.8, trays: 4, capabilities: [meal_delivery, camera]}}
  robots:
    - {{id: r1, profile: bot, start: charger_f1, driver: simulated}}
    - {{id: r2, profile: bot, start: charger_f2, driver: simulated}}
cameras:
  - {{id: cam_203, room: room_203, url: fall.avi}}
  - {{id: cam_114, room: room_114, url: "rtsp://127.0.0.1:{dead}/nothing"}}
store: ward.db
"""


def dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens (the camera there is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_fall(path: Path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    for frame, _ in render(SCENES["fall"], seed=3):
        writer.write(frame)
    writer.release()


def test_a_fall_on_camera_dispatches_a_robot_and_a_dead_camera_is_reported(serve,
                                                                           tmp_path) -> None:
    write_fall(tmp_path / "fall.avi")
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(dead=dead_port()))
    served = serve(str(site), "--speed", "10", users={"anna": "nurse"}, store=tmp_path / "ward.db")
    anna = served.clients["anna"]
    falls = served.wait_for(lambda: [t for t in anna.get("/api/tasks", params={
        "kind": "fall_response"}).json()], "the camera's fall to reach the ward")
    assert falls[0]["places"] == ["room_203"] and falls[0]["priority"] == "urgent"
    assert falls[0]["requested_by"] == "cam_203"
    sent = served.wait_for(lambda: anna.get(f"/api/tasks/{falls[0]['id']}").json()["robot"],
                           "a robot to be sent to the fall")
    assert sent in ("r1", "r2")
    alerts = served.wait_for(lambda: {a["key"]: a for a in anna.get("/api/alerts").json()
                                      if a["key"] in ("fall_detected", "camera_down")}
                             if len({a["key"] for a in anna.get("/api/alerts").json()} &
                                    {"fall_detected", "camera_down"}) == 2 else None,
                             "the fall and the camera-down alerts")
    assert alerts["fall_detected"]["priority"] == "high"
    down = alerts["camera_down"]
    assert (down["priority"], down["place"]) == ("low", "room_114")
    health = served.wait_for(lambda: (h := anna.get("/api/health").json())["cameras"]
                             .get("cam_203") == "ended" and h, "the recorded clip to end")
    assert health["cameras"]["cam_114"] == "down"                   # and still retried
    # told once, not at every retry
    assert len([a for a in anna.get("/api/alerts").json() if a["key"] == "camera_down"]) == 1
