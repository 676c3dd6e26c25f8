"""Device events through Debian's mosquitto on 127.0.0.1: per-device credentials derived
from the device key, an ACL so a device may only publish on its own topic, and the same
verification as over HTTP behind it. Skipped with the reason when mosquitto is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from carefleet.devices import protocol
from carefleet.devices.config import MqttConfig
from carefleet.devices.model import Advertisement
from carefleet.devices.mqtt import MqttBridge, broker_files, event_topic, message, mqtt_password
from conftest import free_port, local, wait_for

CONFIG = """
allow:
  - {id: bed-101, kind: bed_exit, room: room_101}
  - {id: btn-102, kind: call_button, room: room_102}
"""
TOPIC = "carefleet/devices"


@pytest.fixture
def broker(tmp_path: Path):
    """``broker(keys)``: a mosquitto of our own on 127.0.0.1 for these device keys."""
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    started: list[subprocess.Popen] = []

    def start(keys: dict[str, bytes]) -> MqttConfig:
        passwords, acl = broker_files(tmp_path, keys, "ward-secret-1", topic=TOPIC)
        port = free_port()
        conf = tmp_path / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                        f"password_file {passwords}\nacl_file {acl}\npersistence false\n"
                        "log_dest stdout\nlog_type error\nlog_type warning\n"
                        # as root it would switch to user mosquitto, who cannot read
                        # pytest's private temp folder
                        + ("user root\n" if os.geteuid() == 0 else ""))
        process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        started.append(process)
        output: list[str] = []
        threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()

        def listening() -> bool:
            import socket
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0
        try:
            wait_for(lambda: listening() or process.poll() is not None, "mosquitto", 20)
        finally:
            if process.poll() is not None:
                pytest.fail("mosquitto did not start:\n" + "".join(output))
        return MqttConfig(host="127.0.0.1", port=port, topic=TOPIC)
    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def device_client(config: MqttConfig, device_id: str, password: str):
    import paho.mqtt.client as mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{device_id}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(device_id, password)
    connected, acks = threading.Event(), {}
    client.on_connect = lambda c, u, f, reason, p: (acks.__setitem__("connect", reason),
                                                    connected.set())
    client.on_publish = lambda c, u, mid, reason, p: acks.__setitem__(mid, reason)
    client.connect(config.host, config.port)
    client.loop_start()
    assert connected.wait(10)
    return client, acks


def test_a_device_publishes_only_on_its_own_topic(ward, broker) -> None:
    w = ward(CONFIG, start=local(9))
    keys = {}
    for entry in w.devices.config.allow:
        keys[entry.id] = w.devices.found(Advertisement(
            device=entry, name=entry.id, service_type="_carefleet._tcp.local.")).key
    config = broker(keys)
    bridge = MqttBridge(w.devices, config, password="ward-secret-1")
    bridge.start()
    clients = []
    try:
        button, acks = device_client(config, "btn-102", mqtt_password(keys["btn-102"]))
        clients.append(button)
        assert not acks["connect"].is_failure

        def publish(client, acks, topic, body, key):
            info = client.publish(topic, message(body, key), qos=1)
            return wait_for(lambda: acks.get(info.mid), "the broker's PUBACK", 10)

        call = protocol.event_body(device="btn-102", kind="call_button", at=w.clock.now(),
                                   data={"request": "help"})
        reason = publish(button, acks, event_topic(TOPIC, "btn-102"), call, keys["btn-102"])
        assert not reason.is_failure
        wait_for(lambda: bridge.received == 1, "the ward to get it")
        w.settle()
        assert [(t["kind"], t["places"] if "places" in t else t["progress"].get("place"))
                for t in w.tasks()] == [("go_to", "room_102")]
        # on another device's topic: the broker refuses (ACL), the ward never sees it
        posing = protocol.event_body(device="bed-101", kind="bed_exit", at=w.clock.now())
        reason = publish(button, acks, event_topic(TOPIC, "bed-101"), posing, keys["btn-102"])
        assert reason.is_failure and reason.value == 135          # not authorized
        # its own topic, another device's name in the body: refused by the ward
        reason = publish(button, acks, event_topic(TOPIC, "btn-102"), posing, keys["btn-102"])
        assert not reason.is_failure
        wait_for(lambda: bridge.received == 2, "the ward to get the second")
        assert bridge.mismatched == 1 and w.devices.refusals == {"spoofed": 1}
        # a replay of the first message, on its own topic: refused by the verifier
        button.publish(event_topic(TOPIC, "btn-102"), message(call, keys["btn-102"]), qos=1)
        wait_for(lambda: bridge.received == 3, "the replay to arrive")
        assert w.devices.refusals == {"spoofed": 1, "replay": 1}
        w.settle()
        assert len(w.tasks()) == 1
        # a wrong password (another device's) does not get in at all
        intruder, intruder_acks = device_client(config, "bed-101", mqtt_password(keys["btn-102"]))
        clients.append(intruder)
        assert intruder_acks["connect"].is_failure
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
        bridge.stop()
    assert time.monotonic()
