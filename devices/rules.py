"""Device rules: an authentic device event + conditions -> tasks and alerts (sans-I/O).

A rules file (YAML; the bundled ``default_rules.yaml`` is the example)::

    version: 1
    rules:
      - name: bed_exit_at_night
        when: {event: bed_exit, between: ["22:00", "06:00"]}
        then:
          task: {kind: go_to, place: "{room}", priority: high}
          alert: {key: device_bed_exit, priority: medium}
        per: room          # what cooldown and de-duplication count by: room, device, resident
        cooldown: 15m      # after firing, quiet this long for the same room
        dedupe: 1m         # repeats closer together than this are one event (sliding)

``when`` (all given conditions must hold): ``event`` (one or a list, required),
``device_kind``, ``room``, ``resident``, ``label`` (the device has every one),
``between`` (ward-local ``[start, end]``, may wrap midnight), ``device_health`` (its
health now: ok, late, battery_low ...), ``outside_limits`` (any of ``heart_rate``,
``spo2`` outside the wearer's limits), ``data`` (fields equal to these values).

``then`` (at least one): ``task`` (a task request as in the README; ``{room}``,
``{resident}`` and ``{device}`` are filled in), ``alert`` (``key`` a message key,
``priority`` high/medium/low), ``fall: true`` (the core's urgent fall response, as a
camera's fall), ``call: true`` (the core's call-button handling: alert + robot for
``help``, staff for water, toilet, meal).

``RuleBook.evaluate(event, device, now, ...)`` returns the events to post to the host
(``TaskSubmitted``, ``FallDetected``, ``DeviceEvent``); its only state is when each rule
last fired and last matched, per key. Loading checks everything (places against the
ward, the task request with the task builder) and names file, line and field.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from carefleet.errors import InputError
from carefleet.fields import Reader
from carefleet.orchestrator.events import DeviceEvent, Event, FallDetected, TaskSubmitted
from carefleet.orchestrator.schedules import parse_clock
from carefleet.devices.model import (ALL_EVENTS, COMMON_EVENTS, VITALS, Device, DeviceKind,
                                     Health, LABEL, Resident)

RULES_VERSION = 1
DEFAULT_RULES = Path(__file__).resolve().parent / "default_rules.yaml"
PRIORITIES = ("high", "medium", "low")
PER = ("room", "device", "resident")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,60}")
_PLACEHOLDERS = ("room", "resident", "device")
#: The DeviceEvent kind the core turns into an alert of any key and priority.
ALERT_EVENT = "device_alert"
_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)s)?$")


def duration(value: Any) -> float:
    """Seconds from a number or ``"90s"``, ``"15m"``, ``"1h30m"`` (0 allowed)."""
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration like 90s, 15m, 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().replace(" ", "")
        match = _DURATION.match(text)
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and match and any(match.groupdict().values()):
            seconds = (float(match["h"] or 0) * 3600 + float(match["m"] or 0) * 60
                       + float(match["s"] or 0))
        else:
            raise ValueError(f"'{value}' is not seconds or a duration like 90s, 15m, 1h")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("must be 0 or a positive time")
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditions:
    events: frozenset[str]
    device_kinds: frozenset[DeviceKind] = frozenset()
    rooms: frozenset[str] = frozenset()
    residents: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    between: tuple[time, time] | None = None
    health: frozenset[Health] = frozenset()
    outside_limits: frozenset[str] = frozenset()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAction:
    key: str
    priority: str

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key):
            raise InputError("rule alert", "a message key is lower-case letters, digits, _",
                             field="key")
        if self.priority not in PRIORITIES:
            raise InputError("rule alert", f"priority is one of {', '.join(PRIORITIES)}",
                             field="priority")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    when: Conditions
    task: Mapping[str, Any] | None = None
    alert: AlertAction | None = None
    fall: bool = False
    call: bool = False
    per: str = "room"
    cooldown: float = 0.0
    dedupe: float = 0.0
    description: str = ""
    line: int | None = None

    def view(self) -> dict[str, Any]:
        """Plain data for ``GET /api/devices/rules``."""
        w = self.when
        return {"name": self.name, "description": self.description,
                "when": {"event": sorted(w.events),
                         "device_kind": sorted(k.value for k in w.device_kinds),
                         "room": sorted(w.rooms), "resident": sorted(w.residents),
                         "label": sorted(w.labels),
                         "between": [t.strftime("%H:%M") for t in w.between] if w.between
                         else None, "device_health": sorted(h.value for h in w.health),
                         "outside_limits": sorted(w.outside_limits), "data": dict(w.data)},
                "then": {"task": dict(self.task) if self.task else None,
                         "alert": {"key": self.alert.key, "priority": self.alert.priority}
                         if self.alert else None, "fall": self.fall, "call": self.call},
                "per": self.per, "cooldown": self.cooldown, "dedupe": self.dedupe}


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What one event did: ``outputs`` to post to the host, the rules that ``fired``,
    and the ones that matched but were held back (``(rule, "cooldown"|"dedupe")``)."""

    outputs: tuple[Event, ...] = ()
    fired: tuple[str, ...] = ()
    suppressed: tuple[tuple[str, str], ...] = ()


class RuleBook:
    """Rules in force for one ward, with their cooldown and de-duplication memory."""

    def __init__(self, rules: Iterable[Rule], zone: ZoneInfo | str, *,
                 source: str = "rules") -> None:
        self.rules = tuple(rules)
        self.zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        self.source = source
        self._fired: dict[tuple[str, str], float] = {}
        self._matched: dict[tuple[str, str], float] = {}

    def evaluate(self, event: DeviceEvent, device: Device, now: float, *,
                 resident: Resident | None = None, health: Health | None = None) -> Decision:
        """The outputs of every rule ``event`` (from ``device``) satisfies at ``now``."""
        outputs: list[Event] = []
        fired, suppressed = [], []
        for rule in self.rules:
            if not self._matches(rule.when, event, device, now, resident, health):
                continue
            scope = {"room": event.room, "device": device.id,
                     "resident": device.resident or event.room}[rule.per]
            mark = (rule.name, scope)
            last_match = self._matched.get(mark)
            self._matched[mark] = now
            if rule.dedupe and last_match is not None and now - last_match < rule.dedupe:
                suppressed.append((rule.name, "dedupe"))
                continue
            last_fired = self._fired.get(mark)
            if rule.cooldown and last_fired is not None and now - last_fired < rule.cooldown:
                suppressed.append((rule.name, "cooldown"))
                continue
            self._fired[mark] = now
            fired.append(rule.name)
            outputs.extend(self._actions(rule, event, device, resident))
        self._forget(now)
        return Decision(outputs=tuple(outputs), fired=tuple(fired), suppressed=tuple(suppressed))

    def _forget(self, now: float) -> None:
        """Drop memories no rule can still use (bounded memory over a long run)."""
        if len(self._matched) < 10_000:
            return
        longest = max((max(r.cooldown, r.dedupe) for r in self.rules), default=0.0)
        for memory in (self._matched, self._fired):
            for mark in [m for m, at in memory.items() if now - at > longest]:
                del memory[mark]

    def _matches(self, when: Conditions, event: DeviceEvent, device: Device, now: float,
                 resident: Resident | None, health: Health | None) -> bool:
        if event.kind not in when.events:
            return False
        if when.device_kinds and device.kind not in when.device_kinds:
            return False
        if when.rooms and event.room not in when.rooms:
            return False
        if when.residents and device.resident not in when.residents:
            return False
        if when.labels and not when.labels <= device.labels:
            return False
        if when.health and health not in when.health:
            return False
        if when.between is not None and not _within(when.between, now, self.zone):
            return False
        if when.outside_limits:
            if resident is None:
                return False
            outside = resident.outside_limits(event.data)
            if not set(outside) & when.outside_limits:
                return False
        return all(event.data.get(k) == v for k, v in when.data.items())

    def _actions(self, rule: Rule, event: DeviceEvent, device: Device,
                 resident: Resident | None) -> list[Event]:
        fill = {"room": event.room, "device": device.id,
                "resident": device.resident or (resident.id if resident else "")}
        out: list[Event] = []
        if rule.fall:
            out.append(FallDetected(room=event.room, source=device.id))
        if rule.call:
            out.append(DeviceEvent(device_id=device.id, kind="call_button", room=event.room,
                                   data={"request": str(event.data.get("request", "help"))}))
        if rule.task is not None:
            out.append(TaskSubmitted(request=_filled(rule.task, fill),
                                     requested_by=f"device:{device.id}"))
        if rule.alert is not None:
            params = {"rule": rule.name, "device": device.id, "event": event.kind}
            if fill["resident"]:
                params["resident"] = fill["resident"]
            if resident is not None and resident.name:
                params["name"] = resident.name
            for name, value in event.data.items():
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    params.setdefault(name, str(value))
            out.append(DeviceEvent(device_id=device.id, kind=ALERT_EVENT, room=event.room,
                                   data={"key": rule.alert.key, "priority": rule.alert.priority,
                                         "params": params}))
        return out

    def view(self) -> list[dict[str, Any]]:
        return [rule.view() for rule in self.rules]


def _within(window: tuple[time, time], now: float, zone: ZoneInfo) -> bool:
    local = datetime.fromtimestamp(now, zone).time()
    start, end = window
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def _filled(request: Mapping[str, Any], fill: Mapping[str, str]) -> dict[str, Any]:
    def one(value: Any) -> Any:
        if isinstance(value, str):
            return value.format_map(fill)
        if isinstance(value, list):
            return [one(item) for item in value]
        return value
    return {key: one(value) for key, value in request.items()}


# == reading rules ===========================================================
def _names(reader: Reader, key: str, choices: Iterable[str] | None = None) -> frozenset[str]:
    """A name or a list of names (``event: bed_exit`` or ``event: [fall, sos]``)."""
    value = reader.get(key)
    items = reader.strings(key) if isinstance(value, list) else [reader.str(key)]
    if not items:
        raise reader.error(key, "must name at least one")
    allowed = tuple(choices) if choices is not None else None
    for item in items:
        if allowed is not None and item not in allowed:
            raise reader.error(key, f"'{item}' is not one of: {', '.join(allowed)}")
    return frozenset(items)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _check_placeholders(reader: Reader, key: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _check_placeholders(reader, key, item)
        return
    if not isinstance(value, str):
        return
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise reader.error(key, f"bad placeholder: {exc}") from None
    for name in names:
        if name not in _PLACEHOLDERS:
            raise reader.error(key, f"'{{{name}}}' is not one of: "
                               + ", ".join(f"{{{p}}}" for p in _PLACEHOLDERS))


def read_rule(entry: Reader, ward: Any = None) -> Rule:
    entry.only("name", "description", "when", "then", "per", "cooldown", "dedupe")
    name = entry.str("name")
    if not _KEY.fullmatch(name):
        raise entry.error("name", "a rule name is lower-case letters, digits and _")
    when = entry.mapping("when")
    when.only("event", "device_kind", "room", "resident", "label", "between",
              "device_health", "outside_limits", "data")
    events = _names(when, "event", [e for e in ALL_EVENTS if e not in COMMON_EVENTS])
    kinds = frozenset(DeviceKind(k) for k in _names(when, "device_kind",
                                                    [k.value for k in DeviceKind])) \
        if "device_kind" in when else frozenset()
    rooms = _names(when, "room") if "room" in when else frozenset()
    if ward is not None:
        for room in rooms:
            if room not in ward.places:
                raise when.error("room", f"unknown place '{room}' in ward '{ward.name}'")
    labels = _names(when, "label") if "label" in when else frozenset()
    for label in labels:
        if not LABEL.fullmatch(label):
            raise when.error("label", f"'{label}' is not lower-case letters, digits and _")
    between = None
    if "between" in when:
        times = when.strings("between")
        if len(times) != 2:
            raise when.error("between", 'expected ["HH:MM", "HH:MM"] (start, end)')
        try:
            between = (parse_clock(times[0]), parse_clock(times[1]))
        except (ValueError, InputError) as exc:
            raise when.error("between", getattr(exc, "message", str(exc))) from None
        if between[0] == between[1]:
            raise when.error("between", "start and end are the same time")
    data = when.mapping("data").data if "data" in when else {}
    for key, value in data.items():
        if not isinstance(value, (str, int, float, bool)) or value is None:
            raise when.mapping("data").error(str(key), "expected text, a number or true/false")
    then = entry.mapping("then")
    then.only("task", "alert", "fall", "call")
    task = None
    if "task" in then:
        request = then.mapping("task")
        for key in request.keys():
            _check_placeholders(request, key, request.get(key))
        task = _plain(request.data)
        if ward is not None:
            _check_task(request, task, ward)
    alert = None
    if "alert" in then:
        a = then.mapping("alert")
        a.only("key", "priority")
        key = a.str("key")
        if not _KEY.fullmatch(key):
            raise a.error("key", "a message key is lower-case letters, digits and _")
        alert = AlertAction(key=key, priority=a.str("priority", "medium", choices=PRIORITIES))
    fall, call = then.bool("fall", False), then.bool("call", False)
    if task is None and alert is None and not fall and not call:
        raise then.error(None, "a rule does something: give task, alert, fall or call")
    return Rule(
        name=name, description=entry.str("description", ""), line=entry.line,
        when=Conditions(
            events=events, device_kinds=kinds, rooms=rooms, labels=labels, between=between,
            residents=_names(when, "resident") if "resident" in when else frozenset(),
            health=frozenset(Health(h) for h in _names(when, "device_health",
                                                       [h.value for h in Health]))
            if "device_health" in when else frozenset(),
            outside_limits=_names(when, "outside_limits", VITALS)
            if "outside_limits" in when else frozenset(),
            data=_plain(data)),
        task=task, alert=alert, fall=fall, call=call,
        per=entry.str("per", "room", choices=PER),
        cooldown=entry.convert("cooldown", duration, 0.0),
        dedupe=entry.convert("dedupe", duration, 0.0))


def _check_task(request: Reader, task: dict[str, Any], ward: Any) -> None:
    """Build the task once with a sample room, so a bad request fails at load time."""
    from carefleet.tasks.requests import build_task
    sample = next(iter(sorted(p for p in ward.places)), "")
    rooms = [p.id for p in ward.places.values() if getattr(p.kind, "value", "") ==
             "resident_room"]
    sample = rooms[0] if rooms else sample
    try:
        build_task(_filled(task, {"room": sample, "device": "sample", "resident": "sample"}),
                   task_id="rule-check", now=0.0, requested_by="device:sample", ward=ward,
                   source=request.source, field=request.path)
    except InputError as error:
        if error.line is not None:
            raise
        key = (error.field or "").rpartition(".")[2].split("[")[0]
        raise InputError(request.source, error.message, field=error.field,
                         line=request.line_of(key) if key in request else request.line) from None


def read_rules(top: Reader, ward: Any = None) -> tuple[Rule, ...]:
    """``version`` and ``rules`` of a rules file (or of a site file's device rules)."""
    top.only("version", "rules")
    version = top.number("version", RULES_VERSION, integer=True)
    if version != RULES_VERSION:
        raise top.error("version", f"this release reads rules version {RULES_VERSION}")
    rules: list[Rule] = []
    for entry in top.items("rules"):
        rule = read_rule(entry, ward)
        if any(r.name == rule.name for r in rules):
            raise entry.error("name", f"rule '{rule.name}' is defined twice")
        rules.append(rule)
    return tuple(rules)


def load_rules(path: str | Path = DEFAULT_RULES, ward: Any = None) -> tuple[Rule, ...]:
    """Read a rules file (the bundled defaults unless told otherwise)."""
    from carefleet.yamlfile import load_yaml
    return read_rules(Reader(str(path), load_yaml(path)), ward)
