"""Device events through an MQTT broker (optional; Debian's mosquitto in the tests).

A device publishes each event on its own topic ``<topic>/<device id>/events`` as
``{"body": <the v1 event object>, "signature": "v1=<hex>"}`` (QoS 1). The broker checks
who may publish where; the ward checks the event exactly as over HTTP (the same
``DeviceManager.receive``), so the broker is a second fence, not the only one:

- **per-device credentials**: user name = device id, password = ``mqtt_password(key)``
  (derived from the device's key, so a device needs nothing more than its pairing gave
  it, and unpairing — a new key — changes it);
- **an ACL** where each device may only *write* its own topic (``pattern write
  <topic>/%u/events``) and only the ward's own user may *read* them.

``broker_files`` writes the broker's password file (hashed with ``mosquitto_passwd``)
and ACL for the paired devices; ``MqttBridge`` is the ward's subscriber.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from carefleet.errors import InputError, SourceError
from carefleet.devices import protocol

log = logging.getLogger(__name__)
SERVICE_USER = "carefleet-ward"


def mqtt_password(key: bytes) -> str:
    """A device's broker password, derived from its key."""
    digest = hmac.new(key, b"carefleet-mqtt-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def event_topic(topic: str, device_id: str) -> str:
    return f"{topic}/{device_id}/events"


def message(body: Mapping[str, Any], key: bytes) -> bytes:
    """What a device publishes: the event and its signature."""
    payload, signed = protocol.sign_event(body, key)
    return json.dumps({"body": json.loads(payload), "signature": signed},
                      separators=(",", ":")).encode("utf-8")


def broker_files(folder: str | Path, keys: Mapping[str, bytes], service_password: str, *,
                 topic: str = "carefleet/devices") -> tuple[Path, Path]:
    """``(password file, ACL file)`` for mosquitto: one user per paired device (with
    ``mqtt_password``), the ward's own user, each device writing only its own topic."""
    folder = Path(folder)
    passwords, acl = folder / "carefleet.passwd", folder / "carefleet.acl"
    lines = [f"{SERVICE_USER}:{service_password}"]
    for device_id, key in sorted(keys.items()):
        if ":" in device_id:
            raise InputError(f"device {device_id}", "no ':' in a broker user name")
        lines.append(f"{device_id}:{mqtt_password(key)}")
    passwords.write_text("\n".join(lines) + "\n", encoding="utf-8")
    passwords.chmod(0o600)
    try:
        subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True,
                       capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise SourceError("mosquitto_passwd is not installed (apt-get install mosquitto)") \
            from None
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"mosquitto_passwd failed: {exc.stderr.strip()}") from None
    acl.write_text(f"user {SERVICE_USER}\ntopic read {topic}/+/events\n\n"
                   f"pattern write {topic}/%u/events\n", encoding="utf-8")
    return passwords, acl


class MqttBridge:
    """The ward's subscriber: every message on ``<topic>/+/events`` goes through the
    device manager (a message whose body names another device than its topic is
    refused as ``spoofed`` before it is even verified)."""

    def __init__(self, manager: Any, config: Any, *, password: str | None = None,
                 username: str = SERVICE_USER) -> None:
        import paho.mqtt.client as mqtt

        self.manager, self.config = manager, config
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="carefleet-ward",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password or getattr(config, "password", None))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.received = 0
        self.mismatched = 0

    def start(self, timeout: float = 10.0) -> None:
        self.client.connect(self.config.host, self.config.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(timeout):
            self.client.loop_stop()
            raise SourceError(f"MQTT broker {self.config.host}:{self.config.port}: not "
                              "subscribed in time (credentials? ACL?)")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the ward: %s", reason)
            return
        client.subscribe(f"{self.config.topic}/+/events", qos=1)
        client.on_subscribe = lambda *args: self.subscribed.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.received += 1
        topic_device = msg.topic.split("/")[-2] if msg.topic.count("/") >= 2 else ""
        try:
            wrapped = json.loads(msg.payload)
            body, signed = wrapped["body"], wrapped.get("signature")
            payload = protocol.canonical(body)
        except (ValueError, KeyError, TypeError):
            payload, signed, body = msg.payload[:protocol.MAX_BODY + 1], None, {}
        if isinstance(body, dict) and body.get("device") not in (None, topic_device):
            self.mismatched += 1
            signed = "v1=" + "0" * 64            # another device's name: never verifies
        self.manager.receive(bytes(payload), signed, via="mqtt")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
