"""The alert book: falls, call buttons, robot faults, failed tasks and cameras down, as
staff must answer them.

Every alert has a priority (high / medium / low, as IEC 60601-1-8 grades alarms) and a
lifecycle ``raised -> acknowledged -> resolved`` (a ``transitions`` machine). One not
acknowledged in time *escalates* to the next tier of staff (nurse on duty -> charge
nurse -> all staff; at the last tier it is sent again every acknowledge period); one
acknowledged but not resolved in time *comes back* as raised, one tier up, as nurse-call
systems do. The stage times (raised, acknowledged, robot arrived, resolved) are kept
for the KPIs (``stage_times``).

Sans-I/O like the rest of the core: nothing here reads a clock, sleeps or sends
anything. Time is always the ``now`` argument; the core calls ``due(now)`` after every
event, notifies staff for each alert it returns and wakes up at ``next_deadline()``.
A refused call (``InputError``) changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping

from carefleet.errors import IllegalTransition, InputError
from carefleet.machines import build_machine, diagram, fire


class AlertPriority(str, Enum):
    """How urgent an alert is; the value is the word used in records and configs."""

    HIGH = "high"
    """A resident may be hurt or in danger now (fall, call for help): answer at once."""
    MEDIUM = "medium"
    """Needs a person soon (call button, robot fault in a corridor, camera down)."""
    LOW = "low"
    """Needs attention during the shift (a task failed, a robot needs a look)."""

    @property
    def rank(self) -> int:
        """Sort order: high first."""
        return _RANK[self]


_RANK = {AlertPriority.HIGH: 0, AlertPriority.MEDIUM: 1, AlertPriority.LOW: 2}


class AlertState(Enum):
    RAISED = "raised"
    """Staff were told and nobody has taken it yet; escalates when its deadline passes."""
    ACKNOWLEDGED = "acknowledged"
    """Someone has taken it; comes back as raised if not resolved by its deadline."""
    RESOLVED = "resolved"
    """Dealt with; final (it never comes back, a new alert is raised instead)."""


_A = AlertState
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "acknowledge", "source": _A.RAISED, "dest": _A.ACKNOWLEDGED},
    {"trigger": "resolve", "source": [_A.RAISED, _A.ACKNOWLEDGED], "dest": _A.RESOLVED},
    {"trigger": "come_back", "source": _A.ACKNOWLEDGED, "dest": _A.RAISED},
]

MACHINE = build_machine(AlertState, TRANSITIONS, AlertState.RAISED)


def alert_diagram() -> str:
    return diagram(AlertState, TRANSITIONS, "alert lifecycle")


# == policy =================================================================

def _per_priority(high: float, medium: float, low: float) -> dict[str, float]:
    return {"high": high, "medium": medium, "low": low}


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationPolicy:
    """Who is told in turn and how long each stage may take, in seconds per priority.

    ``tiers`` are the audiences in escalation order (the core maps each to pagers or
    dashboard groups). ``acknowledge_within[p]``: a raised alert of priority ``p`` not
    acknowledged this long after it was raised (or last escalated) goes one tier up.
    ``resolve_within[p]``: an acknowledged one not resolved this long after the
    acknowledgement comes back as raised. Keys are priority values (``"high"``) or
    ``AlertPriority`` members; every priority must have a positive, finite time.
    """

    tiers: tuple[str, ...] = ("nurse_on_duty", "charge_nurse", "all_staff")
    acknowledge_within: Mapping[str, float] = field(
        default_factory=lambda: _per_priority(60.0, 180.0, 900.0))
    resolve_within: Mapping[str, float] = field(
        default_factory=lambda: _per_priority(600.0, 1800.0, 7200.0))

    def __post_init__(self) -> None:
        tiers = self.tiers
        if isinstance(tiers, str) or not isinstance(tiers, (tuple, list)) or not tiers:
            raise InputError("escalation policy", "needs at least one tier", field="tiers")
        for i, tier in enumerate(tiers):
            if not isinstance(tier, str) or not tier:
                raise InputError("escalation policy", f"tier {tier!r} is not a name",
                                 field=f"tiers[{i}]")
        if len(set(tiers)) != len(tiers):
            raise InputError("escalation policy", "a tier is named twice", field="tiers")
        object.__setattr__(self, "tiers", tuple(tiers))
        for name in ("acknowledge_within", "resolve_within"):
            object.__setattr__(self, name, _seconds_per_priority(name, getattr(self, name)))

    @property
    def last_tier(self) -> int:
        return len(self.tiers) - 1

    def acknowledge_period(self, priority: AlertPriority) -> float:
        return self.acknowledge_within[priority.value]

    def resolve_period(self, priority: AlertPriority) -> float:
        return self.resolve_within[priority.value]


def _seconds_per_priority(name: str, given: Any) -> dict[str, float]:
    """A detached ``{priority value: seconds}`` with every priority, or ``InputError``."""
    if not isinstance(given, Mapping):
        raise InputError("escalation policy", "expected seconds per priority", field=name)
    times: dict[str, float] = {}
    for key, seconds in given.items():
        try:
            priority = AlertPriority(key)
        except ValueError:
            raise InputError("escalation policy", f"'{key}' is not one of: high, medium, low",
                             field=name) from None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not math.isfinite(seconds) or seconds <= 0:
            raise InputError("escalation policy", f"{seconds!r} is not a positive number of "
                             "seconds", field=f"{name}.{priority.value}")
        times[priority.value] = float(seconds)
    missing = [p.value for p in AlertPriority if p.value not in times]
    if missing:
        raise InputError("escalation policy", f"no time for {', '.join(missing)}", field=name)
    return times


# == one alert ==============================================================

class Alert:
    """One alert and everything that happened to it.

    ``key`` and ``params`` name the message (``carefleet.messages`` renders it; the core
    renders no text). ``tier`` indexes ``EscalationPolicy.tiers``: who is told now.
    The stage times ``raised_at``, ``acknowledged_at``, ``robot_arrived_at`` and
    ``resolved_at`` are each the *first* time the stage was reached (response times
    for the KPIs); an alert that came back and was acknowledged again keeps its first
    acknowledgement there, and every step is in ``history`` as ``(at, what, who)``,
    ``who`` being the person, source or tier concerned. ``deadline`` is when the next
    escalation (raised) or come-back (acknowledged) is due; None once resolved.
    ``escalations`` counts notices sent because an acknowledgement was late (tier moves
    and re-notices at the last tier), ``returns`` come-backs, ``repeats`` raises folded
    into this alert by its ``dedupe`` key.

    Created by ``AlertBook`` (or ``from_record``); its state changes only there.
    """

    state: AlertState

    def __init__(self, *, id: str, key: str, priority: AlertPriority, raised_at: float,
                 params: dict[str, str] | None = None, place: str | None = None,
                 task_id: str | None = None, robot_id: str | None = None, source: str = "",
                 dedupe: str | None = None, state: AlertState = AlertState.RAISED,
                 deadline: float | None = None) -> None:
        self.id = id
        self.key = key
        self.params: dict[str, str] = dict(params or {})
        self.priority = priority
        self.place = place
        self.task_id = task_id
        self.robot_id = robot_id
        self.source = source
        self.dedupe = dedupe
        self.tier = 0
        self.raised_at = raised_at
        self.acknowledged_at: float | None = None
        self.acknowledged_by: str | None = None
        self.robot_arrived_at: float | None = None
        self.resolved_at: float | None = None
        self.resolved_by: str | None = None
        self.escalations = 0
        self.returns = 0
        self.repeats = 0
        self.deadline = deadline
        self.history: list[tuple[float, str, str]] = []
        if state is AlertState.RESOLVED:
            self.state = state            # final: never joins the machine
        else:
            MACHINE.add_model(self, initial=state)

    @property
    def is_open(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def sort_key(self) -> tuple[int, float, str]:
        """Priority first, then oldest first."""
        return (self.priority.rank, self.raised_at, self.id)

    def move(self, trigger: str) -> None:
        """Fire a lifecycle trigger; ``InputError`` naming the alert and its state if not
        allowed (before anything changes). Leaves the machine once resolved."""
        try:
            fire(MACHINE, self, trigger, what=f"alert {self.id}")
        except IllegalTransition as exc:
            raise InputError(f"alert {self.id}", f"cannot {exc.event} while '{exc.state}'"
                             ) from None
        if self.state is AlertState.RESOLVED:
            MACHINE.remove_model(self)

    # -- persistence --------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """Everything needed to restore this alert after a restart, JSON-able and
        detached (it does not change with the live alert)."""
        return {
            "id": self.id, "key": self.key, "params": dict(self.params),
            "priority": self.priority.value, "place": self.place, "task_id": self.task_id,
            "robot_id": self.robot_id, "source": self.source, "dedupe": self.dedupe,
            "state": self.state.value, "tier": self.tier, "raised_at": self.raised_at,
            "acknowledged_at": self.acknowledged_at, "acknowledged_by": self.acknowledged_by,
            "robot_arrived_at": self.robot_arrived_at, "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by, "escalations": self.escalations,
            "returns": self.returns, "repeats": self.repeats, "deadline": self.deadline,
            "history": [[at, what, who] for at, what, who in self.history],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Alert:
        """The alert ``to_record`` saved, in the same state (an open one rejoins the
        machine), with its tier, deadline and history. ``InputError`` names the field
        of a broken record."""
        reader = _RecordReader(record)
        state = reader.choice("state", AlertState)
        fields = dict(
            id=reader.text("id"), key=reader.text("key"),
            priority=reader.choice("priority", AlertPriority),
            raised_at=reader.time("raised_at"), params=reader.params(),
            place=reader.text("place", optional=True),
            task_id=reader.text("task_id", optional=True),
            robot_id=reader.text("robot_id", optional=True),
            source=reader.text("source", empty=True), dedupe=reader.text("dedupe", optional=True),
            deadline=reader.time("deadline", optional=True))
        if (fields["deadline"] is None) != (state is AlertState.RESOLVED):
            raise reader.error("deadline", "must be set exactly when the alert is open")
        later = dict(
            tier=reader.count("tier"),
            acknowledged_at=reader.time("acknowledged_at", optional=True),
            acknowledged_by=reader.text("acknowledged_by", optional=True),
            robot_arrived_at=reader.time("robot_arrived_at", optional=True),
            resolved_at=reader.time("resolved_at", optional=True),
            resolved_by=reader.text("resolved_by", optional=True),
            escalations=reader.count("escalations"), returns=reader.count("returns"),
            repeats=reader.count("repeats"), history=reader.history())
        alert = cls(state=state, **fields)      # joins the machine only once all is read
        for name, value in later.items():
            setattr(alert, name, value)
        return alert

    def __repr__(self) -> str:
        return (f"<Alert {self.id} {self.key} {self.priority.value} {self.state.value} "
                f"tier {self.tier}>")


class _RecordReader:
    """Typed access to one stored alert record; every problem is one ``InputError``."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        if not isinstance(record, Mapping):
            raise InputError("alert record", f"expected a mapping, got {type(record).__name__}")
        self.record = record
        self.source = f"alert record {record.get('id', '?')}"

    def error(self, name: str, message: str) -> InputError:
        return InputError(self.source, message, field=name)

    def _get(self, name: str) -> Any:
        if name not in self.record:
            raise self.error(name, "missing")
        return self.record[name]

    def text(self, name: str, *, optional: bool = False, empty: bool = False) -> Any:
        value = self.record.get(name) if optional else self._get(name)
        if value is None and optional:
            return None
        if not isinstance(value, str) or (not value and not empty):
            raise self.error(name, f"expected a non-empty string, got {value!r}")
        return value

    def time(self, name: str, *, optional: bool = False) -> Any:
        value = self.record.get(name) if optional else self._get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise self.error(name, f"expected a time in seconds, got {value!r}")
        return float(value)

    def count(self, name: str) -> int:
        value = self.record.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(name, f"expected a count, got {value!r}")
        return value

    def choice(self, name: str, kind: type[Enum]) -> Any:
        value = self._get(name)
        try:
            return kind(value)
        except ValueError:
            words = ", ".join(member.value for member in kind)
            raise self.error(name, f"{value!r} is not one of: {words}") from None

    def params(self) -> dict[str, str]:
        value = self.record.get("params", {})
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise self.error("params", "expected a mapping of strings to strings")
        return dict(value)

    def history(self) -> list[tuple[float, str, str]]:
        value = self.record.get("history", [])
        entries = []
        for i, entry in enumerate(value if isinstance(value, list) else [None]):
            if not isinstance(entry, (list, tuple)) or len(entry) != 3 \
                    or isinstance(entry[0], bool) or not isinstance(entry[0], (int, float)) \
                    or not all(isinstance(part, str) for part in entry[1:]):
                raise self.error(f"history[{i}]", "expected [time, what, who]")
            entries.append((float(entry[0]), entry[1], entry[2]))
        return entries


# == the book ===============================================================

class AlertBook:
    """Every alert of one ward that is open or resolved but not yet taken away.

    Not thread-safe: the core drives it. ``incarnation`` (the store counts them) goes
    into every alert id (``a{incarnation}-{n:05d}``), so ids stay unique across
    restarts. Times must not go backwards between calls; an alert's stage times never
    precede its ``raised_at``.
    """

    def __init__(self, policy: EscalationPolicy | None = None, *, incarnation: int = 1) -> None:
        self.policy = policy if policy is not None else EscalationPolicy()
        self.incarnation = incarnation
        self._alerts: dict[str, Alert] = {}
        self._by_dedupe: dict[str, str] = {}     # dedupe key -> id of the open alert
        self._next = 0
        self._now = -math.inf                    # latest time given to the book

    # -- raising -------------------------------------------------------------
    def raise_alert(self, *, key: str, params: Mapping[str, str] | None = None,
                    priority: AlertPriority | str, now: float, place: str | None = None,
                    task_id: str | None = None, robot_id: str | None = None,
                    source: str = "", dedupe: str | None = None) -> tuple[Alert, bool]:
        """Raise an alert at ``now`` for the first tier; returns ``(alert, new)``.

        When an open alert has the same ``dedupe`` key (the same fall seen by a camera
        and a wearable, a call button pressed again), nothing new is raised: that alert
        is returned with ``repeats`` bumped and ``new`` False, so staff are not paged
        twice for one thing. Once it is resolved the key is free again.
        """
        now = self._check_now(now)
        if not isinstance(key, str) or not key:
            raise InputError("alert", f"the message key must be a non-empty string, got {key!r}",
                             field="key")
        try:
            priority = AlertPriority(priority)
        except ValueError:
            raise InputError("alert", f"{priority!r} is not one of: high, medium, low",
                             field="priority") from None
        params = dict(params or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
            raise InputError("alert", "params must map strings to strings", field="params")
        for name, value in (("place", place), ("task_id", task_id), ("robot_id", robot_id),
                            ("dedupe", dedupe)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InputError("alert", f"expected a non-empty string or None, got {value!r}",
                                 field=name)
        if not isinstance(source, str):
            raise InputError("alert", f"expected a string, got {source!r}", field="source")
        if dedupe is not None and dedupe in self._by_dedupe:
            alert = self._alerts[self._by_dedupe[dedupe]]
            alert.repeats += 1
            alert.history.append((now, "repeated", source))
            self._now = now
            return alert, False
        self._next += 1
        alert = Alert(id=f"a{self.incarnation}-{self._next:05d}", key=key, params=params,
                      priority=priority, raised_at=now, place=place, task_id=task_id,
                      robot_id=robot_id, source=source, dedupe=dedupe,
                      deadline=now + self.policy.acknowledge_period(priority))
        alert.history.append((now, "raised", self.policy.tiers[0]))
        self._alerts[alert.id] = alert
        if dedupe is not None:
            self._by_dedupe[dedupe] = alert.id
        self._now = now
        return alert, True

    # -- staff and robots ------------------------------------------------------
    def acknowledge(self, alert_id: str, by: str, now: float) -> Alert:
        """``by`` has taken the alert: no more escalation; it must be resolved within
        the policy's resolve time or it comes back."""
        alert, now = self._for_change(alert_id, by, now)
        alert.move("acknowledge")
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = now, by
        alert.deadline = now + self.policy.resolve_period(alert.priority)
        alert.history.append((now, "acknowledged", by))
        self._now = now
        return alert

    def resolve(self, alert_id: str, by: str, now: float) -> Alert:
        """``by`` has dealt with the alert (acknowledged or not): final."""
        alert, now = self._for_change(alert_id, by, now)
        self._resolve(alert, by, now)
        self._now = now
        return alert

    def robot_arrived(self, task_id: str, now: float) -> list[Alert]:
        """The robot of task ``task_id`` reached the place: stamps ``robot_arrived_at`` on
        every open alert of that task not stamped yet, and returns those."""
        now = self._check_now(now)
        stamped = []
        for alert in self._open_of(task_id):
            if alert.robot_arrived_at is None and now >= alert.raised_at:
                alert.robot_arrived_at = now
                alert.history.append((now, "robot_arrived", alert.robot_id or ""))
                stamped.append(alert)
        self._now = now
        return stamped

    def resolve_for_task(self, task_id: str, by: str, now: float) -> list[Alert]:
        """Resolve every open alert of task ``task_id`` (its task ended: the resident was
        attended, the failed task was retried); returns them."""
        now = self._check_now(now)
        _check_person(by)
        alerts = self._open_of(task_id)
        for alert in alerts:
            if now < alert.raised_at:
                raise self._before_raised(alert, now)
        for alert in alerts:
            self._resolve(alert, by, now)
        self._now = now
        return alerts

    # -- time ------------------------------------------------------------------
    def due(self, now: float) -> list[Alert]:
        """Apply every deadline that has passed by ``now``; returns the alerts that
        changed (priority first), for each of which the core notifies ``tier_name``.

        A raised alert past its acknowledge deadline goes one tier up (at the last
        tier it stays there and is sent again); an acknowledged one past its resolve
        deadline comes back as raised, one tier up. Either way its next acknowledge
        deadline is a full period after ``now``, so a late call escalates once, not
        once per missed period.
        """
        now = self._check_now(now)
        changed = []
        for alert in self._alerts.values():
            if alert.deadline is None or alert.deadline > now:
                continue
            if alert.state is AlertState.RAISED:
                alert.escalations += 1
                what = "escalated" if alert.tier < self.policy.last_tier else "renotified"
            else:
                alert.move("come_back")
                alert.returns += 1
                what = "came_back"
            alert.tier = min(alert.tier + 1, self.policy.last_tier)
            alert.deadline = now + self.policy.acknowledge_period(alert.priority)
            alert.history.append((now, what, self.policy.tiers[alert.tier]))
            changed.append(alert)
        self._now = now
        return sorted(changed, key=Alert.sort_key)

    def next_deadline(self) -> float | None:
        """When ``due`` next has something to do (the core's next wakeup), if ever."""
        times = [a.deadline for a in self._alerts.values() if a.deadline is not None]
        return min(times) if times else None

    # -- reading -----------------------------------------------------------------
    def open(self) -> list[Alert]:
        """Open alerts, high priority first, then oldest first."""
        return sorted((a for a in self._alerts.values() if a.is_open), key=Alert.sort_key)

    def get(self, alert_id: str) -> Alert:
        """The alert ``alert_id`` (open, or resolved and not taken yet)."""
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise InputError(f"alert {alert_id}", "no such alert (unknown or finished)")
        return alert

    def tier_name(self, alert: Alert) -> str:
        """Who is told about ``alert`` now (``policy.tiers[alert.tier]``)."""
        return self.policy.tiers[alert.tier]

    def __len__(self) -> int:
        return len(self._alerts)

    # -- memory and restart --------------------------------------------------------
    def take_finished(self) -> list[Alert]:
        """Resolved alerts, in the order they were resolved, forgotten by the book (the
        store keeps their records), so memory stays flat over long runs."""
        done = [a for a in self._alerts.values() if not a.is_open]
        done.sort(key=lambda a: (a.resolved_at, a.id))
        for alert in done:
            del self._alerts[alert.id]
        return done

    def restore(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Take back every open alert from stored records (a restart), with its state,
        tier, deadline and history; resolved records are skipped. Returns the number
        restored. A deadline that passed while the orchestrator was down is applied by
        the next ``due``. All records are checked before any is taken."""
        restored: list[Alert] = []
        seen: set[str] = set(self._alerts)
        try:
            for record in records:
                alert = Alert.from_record(record)
                if not alert.is_open:
                    continue
                restored.append(alert)
                if alert.id in seen:
                    raise InputError(f"alert record {alert.id}", "this alert id is already open")
                seen.add(alert.id)
                if alert.tier > self.policy.last_tier:
                    raise InputError(f"alert record {alert.id}",
                                     f"tier {alert.tier} is past the last tier "
                                     f"({self.policy.last_tier})", field="tier")
        except InputError:
            for alert in restored:
                MACHINE.remove_model(alert)
            raise
        for alert in restored:
            self._alerts[alert.id] = alert
            if alert.dedupe is not None:
                self._by_dedupe.setdefault(alert.dedupe, alert.id)
            serial = _serial(alert.id, self.incarnation)
            if serial is not None:
                self._next = max(self._next, serial)
        return len(restored)

    def close(self) -> None:
        """Release every open alert from the shared machine (a restart, a test's end)."""
        for alert in self._alerts.values():
            if alert.is_open:
                MACHINE.remove_model(alert)
        self._alerts.clear()
        self._by_dedupe.clear()

    # -- internals -------------------------------------------------------------------
    def _check_now(self, now: float) -> float:
        if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
            raise InputError("clock", f"expected a time in seconds, got {now!r}")
        if now < self._now:
            raise InputError("clock", f"time went backwards: {now} after {self._now}")
        return float(now)

    def _for_change(self, alert_id: str, by: str, now: float) -> tuple[Alert, float]:
        now = self._check_now(now)
        _check_person(by)
        alert = self.get(alert_id)
        if now < alert.raised_at:
            raise self._before_raised(alert, now)
        return alert, now

    @staticmethod
    def _before_raised(alert: Alert, now: float) -> InputError:
        return InputError(f"alert {alert.id}", f"time {now} is before it was raised "
                          f"({alert.raised_at})")

    def _open_of(self, task_id: str) -> list[Alert]:
        return [a for a in self.open() if a.task_id == task_id]

    def _resolve(self, alert: Alert, by: str, now: float) -> None:
        alert.move("resolve")
        alert.resolved_at, alert.resolved_by = now, by
        alert.deadline = None
        alert.history.append((now, "resolved", by))
        if alert.dedupe is not None and self._by_dedupe.get(alert.dedupe) == alert.id:
            del self._by_dedupe[alert.dedupe]


def _check_person(by: str) -> None:
    if not isinstance(by, str) or not by:
        raise InputError("alert", f"who did it must be a non-empty string, got {by!r}",
                         field="by")


def _serial(alert_id: str, incarnation: int) -> int | None:
    """``n`` of an id ``a{incarnation}-{n}`` from this incarnation, else None."""
    prefix = f"a{incarnation}-"
    if alert_id.startswith(prefix) and alert_id[len(prefix):].isdigit():
        return int(alert_id[len(prefix):])
    return None


# == KPIs ===================================================================

#: stage name -> the record field that stamps it (each measured from ``raised_at``).
STAGES = {"acknowledged": "acknowledged_at", "robot_arrived": "robot_arrived_at",
          "resolved": "resolved_at"}


def stage_times(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Response times by stage and priority from alert records (``Alert.to_record``).

    Returns ``{priority: {"count": alerts, stage: {"count": n, "median_s": s,
    "max_s": s}}}`` for every priority and every stage of ``STAGES``, times in seconds
    from ``raised_at``; a stage no alert reached has ``None`` figures (not 0: "nobody
    was slow" is not "the answer took 0 s"). Open alerts count for the stages they
    reached.
    """
    spans: dict[str, dict[str, list[float]]] = {
        p.value: {stage: [] for stage in STAGES} for p in AlertPriority}
    counts = {p.value: 0 for p in AlertPriority}
    for record in records:
        reader = _RecordReader(record)
        priority = reader.choice("priority", AlertPriority).value
        raised = reader.time("raised_at")
        counts[priority] += 1
        for stage, name in STAGES.items():
            at = reader.time(name, optional=True)
            if at is not None:
                spans[priority][stage].append(at - raised)
    return {priority: {"count": counts[priority],
                       **{stage: _figures(values) for stage, values in by_stage.items()}}
            for priority, by_stage in spans.items()}


def _figures(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_s": None, "max_s": None}
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"count": len(ordered), "median_s": median, "max_s": ordered[-1]}
