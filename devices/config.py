"""The ``devices:`` section of a site file (or a file of its own), read with located errors.

::

    devices:
      discovery: {interfaces: [127.0.0.1]}   # where to browse for devices; omit: no browsing
      heartbeat: {interval: 30s, missed: 3, battery_low: 0.15}
      allow:                                  # paired as soon as they are seen (commissioned)
        - {id: bed-101, kind: bed_exit, room: room_101}
        - {id: door-f1, kind: door_contact, room: fire_door_f1, labels: [exit]}
        - {id: band-anna, kind: wearable, resident: anna}
      residents:
        - {id: anna, room: room_101, heart_rate: [45, 120], spo2: [92, 100]}
      rules: default                          # or a rules file, relative to this file
      report_place: nurse_station_f1          # where alerts about unknown devices are shown
      mqtt: {host: 127.0.0.1, port: 1883, password_file: broker.pw}   # optional: a broker too

Nothing here is secret: device keys are made at pairing and kept in the store.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carefleet.errors import InputError
from carefleet.fields import Reader
from carefleet.devices.model import (DEFAULT_HEART_RATE, DEFAULT_SPO2, Device, DeviceKind,
                                     HealthPolicy, Limits, Resident)
from carefleet.devices.rules import DEFAULT_RULES, Rule, duration, read_rules


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    topic: str = "carefleet/devices"      # devices publish on <topic>/<device id>/events
    password_file: Path | None = None     # the ward's broker password (the file, not the secret)

    @property
    def password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(str(self.password_file), f"cannot read: {exc.strerror}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    allow: tuple[Device, ...] = ()
    residents: tuple[Resident, ...] = ()
    heartbeat: HealthPolicy = HealthPolicy()
    rules: tuple[Rule, ...] | None = None          # None: the bundled defaults
    rules_source: str = "default"
    discovery: tuple[str, ...] | None = None        # interfaces to browse; None: none
    report_place: str | None = None
    window: float = 60.0
    claim_window: float = 600.0
    mqtt: MqttConfig | None = None
    source: str = "defaults"


def _pair(value: Any) -> Limits:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("expected [low, high]")
    try:
        return Limits(low=value[0], high=value[1])
    except InputError as exc:
        raise ValueError(exc.message) from None


def _interface(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 address (or write interfaces: all)") from None


def read_device_config(top: Reader, ward: Any, folder: Path | None = None) -> DeviceConfig:
    """A ``devices`` mapping (``top``) checked against ``ward``; rules files are found
    relative to ``folder``."""
    top.only("discovery", "heartbeat", "allow", "residents", "rules", "report_place",
             "window", "claim_window", "mqtt")

    def place(reader: Reader, key: str) -> str:
        value = reader.str(key)
        if value not in ward.places:
            raise reader.error(key, f"unknown place '{value}' in ward '{ward.name}'")
        return value

    residents: list[Resident] = []
    for entry in top.items("residents", []):
        entry.only("id", "name", "room", "heart_rate", "spo2")
        resident_id = entry.str("id")
        if any(r.id == resident_id for r in residents):
            raise entry.error("id", f"resident '{resident_id}' is listed twice")
        try:
            residents.append(Resident(
                id=resident_id, room=place(entry, "room"), name=entry.str("name", ""),
                heart_rate=entry.convert("heart_rate", _pair, DEFAULT_HEART_RATE),
                spo2=entry.convert("spo2", _pair, DEFAULT_SPO2)))
        except InputError as exc:
            if exc.line is not None:
                raise
            raise entry.error(exc.field or "id", exc.message) from None
    by_id = {r.id: r for r in residents}

    allow: list[Device] = []
    for entry in top.items("allow", []):
        entry.only("id", "kind", "room", "resident", "model", "labels", "stream_url")
        device_id = entry.str("id")
        if any(d.id == device_id for d in allow):
            raise entry.error("id", f"device '{device_id}' is listed twice")
        kind = DeviceKind(entry.str("kind", choices=[k.value for k in DeviceKind]))
        resident = entry.str("resident", None)
        if resident is not None and resident not in by_id:
            raise entry.error("resident", f"no resident '{resident}' under devices.residents")
        if kind is DeviceKind.WEARABLE:
            if resident is None and "room" not in entry:
                raise entry.error(None, "a wearable names its resident")
            room = place(entry, "room") if "room" in entry else by_id[resident].room
        else:
            if resident is not None:
                raise entry.error("resident", "only a wearable belongs to a resident")
            room = place(entry, "room")
        try:
            allow.append(Device(id=device_id, kind=kind, room=room, resident=resident,
                                model=entry.str("model", ""),
                                labels=frozenset(entry.strings("labels", [])),
                                stream_url=entry.str("stream_url", None)))
        except InputError as exc:
            raise entry.error(exc.field or "id", exc.message) from None

    heartbeat = HealthPolicy()
    if "heartbeat" in top:
        beat = top.mapping("heartbeat")
        beat.only("interval", "grace", "missed", "battery_low")
        try:
            heartbeat = HealthPolicy(
                interval=beat.convert("interval", duration, 30.0),
                grace=beat.convert("grace", duration, 5.0),
                missed=beat.number("missed", 3, minimum=1, integer=True),
                battery_low=beat.number("battery_low", 0.15, minimum=0, maximum=0.99))
        except InputError as exc:
            raise beat.error(exc.field, exc.message) from None

    rules, rules_source = None, "default"
    if "rules" in top:
        given = top.str("rules")
        if given != "default":
            path = (folder or Path.cwd()) / given
            if not path.is_file():
                raise top.error("rules", f"no rules file '{given}' (looked for {path})")
            from carefleet.yamlfile import load_yaml
            rules = read_rules(Reader(str(path), load_yaml(path)), ward)
            rules_source = str(path)
    discovery = None
    if "discovery" in top:
        found = top.mapping("discovery")
        found.only("interfaces")
        value = found.get("interfaces", ["127.0.0.1"])
        if value == "all":
            discovery = ()
        else:
            discovery = tuple(_interface_item(found, v) for v in found.strings("interfaces"))
            if not discovery:
                raise found.error("interfaces", "name at least one address (or: all)")
    mqtt = None
    if "mqtt" in top:
        m = top.mapping("mqtt")
        m.only("host", "port", "topic", "password_file")
        password_file = None
        if "password_file" in m:
            password_file = (folder or Path.cwd()) / m.str("password_file")
            if not password_file.is_file():
                raise m.error("password_file", f"no file '{m.str('password_file')}' (looked "
                              f"for {password_file})")
        mqtt = MqttConfig(host=m.str("host", "127.0.0.1"),
                          port=m.number("port", 1883, minimum=1, maximum=65535, integer=True),
                          topic=m.str("topic", "carefleet/devices"),
                          password_file=password_file)
    return DeviceConfig(
        allow=tuple(allow), residents=tuple(residents), heartbeat=heartbeat, rules=rules,
        rules_source=rules_source, discovery=discovery,
        report_place=place(top, "report_place") if "report_place" in top else None,
        window=top.number("window", 60.0, minimum=5, maximum=600),
        claim_window=top.convert("claim_window", duration, 600.0), mqtt=mqtt,
        source=top.source)


def _interface_item(reader: Reader, value: str) -> str:
    try:
        return _interface(value)
    except ValueError as exc:
        raise reader.error("interfaces", str(exc)) from None


def load_device_config(path: str | Path, ward: Any) -> DeviceConfig:
    """A file whose top level is a ``devices`` section (or holds one under ``devices``)."""
    from carefleet.yamlfile import load_yaml
    path = Path(path)
    top = Reader(str(path), load_yaml(path))
    if "devices" in top and len(top.keys()) == 1:
        top = top.mapping("devices")
    return read_device_config(top, ward, path.parent)


def default_rules(ward: Any) -> tuple[Rule, ...]:
    from carefleet.devices.rules import load_rules
    return load_rules(DEFAULT_RULES, ward)
