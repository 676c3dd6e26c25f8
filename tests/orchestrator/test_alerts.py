"""The alert book: lifecycle raised -> acknowledged -> resolved, escalation through the
tiers, come-back after an acknowledgement without resolution, dedupe, robot arrival,
records that survive a restart, and the KPI stage times. Time is only ever the ``now``
argument (never a sleep); a stateful property test drives random mixes of all of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from carefleet.errors import InputError
from carefleet.orchestrator.alerts import (MACHINE, TRANSITIONS, Alert, AlertBook,
                                           AlertPriority, AlertState, EscalationPolicy,
                                           alert_diagram, stage_times)
from orchestrator_helpers import START

HIGH, MEDIUM, LOW = AlertPriority.HIGH, AlertPriority.MEDIUM, AlertPriority.LOW
RAISED, ACKNOWLEDGED, RESOLVED = AlertState.RAISED, AlertState.ACKNOWLEDGED, AlertState.RESOLVED


@pytest.fixture
def book():
    book = AlertBook(EscalationPolicy(), incarnation=7)
    yield book
    book.close()


def fall(book: AlertBook, now: float = START, **kwargs: Any) -> Alert:
    fields = dict(key="fall_detected", params={"place": "Room 209"}, priority=HIGH,
                  place="room_209", task_id="t1-000001", robot_id="r1", source="camera_2")
    fields.update(kwargs)
    alert, new = book.raise_alert(now=now, **fields)
    assert new
    return alert


def in_machine(alert: Alert) -> bool:
    return any(model is alert for model in MACHINE.models)


# == lifecycle ==============================================================

#: (state, trigger) -> the state it leads to; every pair not listed is illegal.
LEGAL = {
    (RAISED, "acknowledge"): ACKNOWLEDGED,
    (RAISED, "resolve"): RESOLVED,
    (ACKNOWLEDGED, "resolve"): RESOLVED,
    (ACKNOWLEDGED, "come_back"): RAISED,
}
TRIGGERS = ("acknowledge", "resolve", "come_back")


def test_the_transition_table_is_exactly_the_documented_one() -> None:
    table = {(source, t["trigger"]): t["dest"] for t in TRANSITIONS
             for source in (t["source"] if isinstance(t["source"], list) else [t["source"]])}
    assert table == LEGAL


@pytest.mark.parametrize("state", list(AlertState), ids=lambda s: s.value)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_transition_and_each_illegal_one(state: AlertState, trigger: str) -> None:
    alert = Alert(id="a1-00001", key="call_button", priority=MEDIUM, raised_at=START,
                  state=state, deadline=None if state is RESOLVED else START + 180)
    try:
        if (state, trigger) in LEGAL:
            alert.move(trigger)
            assert alert.state is LEGAL[(state, trigger)]
            assert in_machine(alert) == (alert.state is not RESOLVED)   # resolved leaves it
        else:
            before = alert.to_record()
            with pytest.raises(InputError, match=f"alert a1-00001: cannot {trigger} "
                                                 f"while '{state.value}'"):
                alert.move(trigger)
            assert alert.to_record() == before
    finally:
        if in_machine(alert):
            MACHINE.remove_model(alert)


def test_a_raised_alert_goes_to_the_first_tier_with_an_acknowledge_deadline(book) -> None:
    alert = fall(book)
    assert (alert.state, alert.tier, alert.raised_at, alert.deadline) == \
        (RAISED, 0, START, START + 60)
    assert book.tier_name(alert) == "nurse_on_duty"
    assert alert.history == [(START, "raised", "nurse_on_duty")]
    assert book.next_deadline() == START + 60
    low, _ = book.raise_alert(key="task_failed", priority="low", now=START + 1)
    assert low.priority is LOW and low.deadline == START + 1 + 900


def test_ids_carry_the_incarnation_and_count_up(book) -> None:
    ids = [fall(book, START + i, dedupe=None).id for i in range(3)]
    assert ids == ["a7-00001", "a7-00002", "a7-00003"]


def test_acknowledge_then_resolve_stamps_each_stage(book) -> None:
    alert = fall(book)
    assert book.acknowledge(alert.id, "nurse_li", START + 20) is alert
    assert (alert.state, alert.acknowledged_at, alert.acknowledged_by) == \
        (ACKNOWLEDGED, START + 20, "nurse_li")
    assert alert.deadline == START + 20 + 600          # resolve within, for high
    book.resolve(alert.id, "nurse_li", START + 200)
    assert (alert.state, alert.resolved_at, alert.resolved_by, alert.deadline) == \
        (RESOLVED, START + 200, "nurse_li", None)
    assert not in_machine(alert)
    assert book.next_deadline() is None and book.open() == []
    assert [what for _, what, _ in alert.history] == ["raised", "acknowledged", "resolved"]


def test_an_alert_can_be_resolved_without_an_acknowledgement(book) -> None:
    alert = fall(book)
    book.resolve(alert.id, "nurse_li", START + 30)
    assert alert.state is RESOLVED and alert.acknowledged_at is None


@pytest.mark.parametrize("steps, call, message", [
    ([], ("acknowledge", "a7-00099"), "alert a7-00099: no such alert"),
    (["resolve"], ("acknowledge", None), "cannot acknowledge while 'resolved'"),
    (["resolve"], ("resolve", None), "cannot resolve while 'resolved'"),
    (["acknowledge"], ("acknowledge", None), "cannot acknowledge while 'acknowledged'"),
], ids=["unknown id", "acknowledge resolved", "resolve twice", "acknowledge twice"])
def test_a_refused_call_names_the_alert_and_its_state_and_changes_nothing(
        book, steps, call, message) -> None:
    alert = fall(book)
    for step in steps:
        getattr(book, step)(alert.id, "nurse_li", START + 10)
    before = [a.to_record() for a in book.open()], alert.to_record(), book.next_deadline()
    method, alert_id = call
    with pytest.raises(InputError, match=message) as refused:
        getattr(book, method)(alert_id or alert.id, "nurse_wang", START + 20)
    assert (alert_id or alert.id) in str(refused.value)
    assert ([a.to_record() for a in book.open()], alert.to_record(), book.next_deadline()) \
        == before


@pytest.mark.parametrize("kwargs, field", [
    (dict(key=""), "key"), (dict(priority="urgent"), "priority"),
    (dict(params={"room": 209}), "params"), (dict(place=""), "place"),
    (dict(dedupe=""), "dedupe"), (dict(now=float("nan")), None),
])
def test_a_malformed_alert_is_refused(book, kwargs, field) -> None:
    fields = dict(key="call_button", priority=MEDIUM, now=START)
    fields.update(kwargs)
    with pytest.raises(InputError) as refused:
        book.raise_alert(**fields)
    assert refused.value.field == field
    assert len(book) == 0 and book.next_deadline() is None


def test_time_going_backwards_is_refused(book) -> None:
    alert = fall(book, START + 100)
    with pytest.raises(InputError, match="time went backwards"):
        book.acknowledge(alert.id, "nurse_li", START + 50)
    with pytest.raises(InputError, match="time went backwards"):
        book.due(START)
    assert alert.state is RAISED


def test_who_acknowledges_must_be_named(book) -> None:
    alert = fall(book)
    with pytest.raises(InputError, match="who did it"):
        book.acknowledge(alert.id, "", START + 1)
    assert alert.state is RAISED


# == escalation and come-back =================================================

def test_an_unacknowledged_alert_escalates_through_the_tiers_then_renotifies(book) -> None:
    alert = fall(book)                                # high: acknowledge within 60 s
    assert book.due(START + 59.9) == []
    assert book.due(START + 60) == [alert]            # exactly at the deadline
    assert (alert.tier, book.tier_name(alert), alert.deadline) == \
        (1, "charge_nurse", START + 120)
    assert book.due(START + 119) == []
    assert book.due(START + 120) == [alert]
    assert (alert.tier, book.tier_name(alert)) == (2, "all_staff")
    # at the last tier it stays there and is sent again every acknowledge period
    assert book.due(START + 180) == [alert]
    assert book.due(START + 240) == [alert]
    assert (alert.tier, alert.escalations, alert.state) == (2, 4, RAISED)
    assert [(at - START, what, who) for at, what, who in alert.history] == [
        (0, "raised", "nurse_on_duty"), (60, "escalated", "charge_nurse"),
        (120, "escalated", "all_staff"), (180, "renotified", "all_staff"),
        (240, "renotified", "all_staff")]
    book.acknowledge(alert.id, "nurse_li", START + 250)
    assert book.due(START + 300) == []                 # no more escalation once taken


def test_a_late_call_escalates_once_and_counts_the_next_period_from_now(book) -> None:
    alert = fall(book)
    assert book.due(START + 1000) == [alert]
    assert (alert.tier, alert.deadline) == (1, START + 1060)


def test_an_acknowledged_alert_not_resolved_in_time_comes_back(book) -> None:
    alert = fall(book)
    book.acknowledge(alert.id, "nurse_li", START + 30)
    assert book.due(START + 30 + 599) == []
    assert book.due(START + 630) == [alert]
    assert (alert.state, alert.tier, alert.returns, alert.deadline) == \
        (RAISED, 1, 1, START + 690)
    assert alert.history[-1] == (START + 630, "came_back", "charge_nurse")
    # the stage time stays the first acknowledgement; the second is in the history
    book.acknowledge(alert.id, "nurse_wang", START + 650)
    assert (alert.acknowledged_at, alert.acknowledged_by) == (START + 30, "nurse_li")
    assert alert.history[-1] == (START + 650, "acknowledged", "nurse_wang")
    assert alert.deadline == START + 650 + 600
    book.resolve(alert.id, "nurse_wang", START + 700)
    assert book.due(START + 99999) == [] and alert.state is RESOLVED


def test_a_come_back_at_the_last_tier_stays_at_the_last_tier(book) -> None:
    alert = fall(book)
    book.due(START + 60)
    book.due(START + 120)
    book.acknowledge(alert.id, "nurse_li", START + 130)
    assert book.due(START + 730) == [alert]
    assert (alert.state, alert.tier) == (RAISED, 2)


def test_due_returns_changed_alerts_high_priority_first(book) -> None:
    low, _ = book.raise_alert(key="task_failed", priority=LOW, now=START)
    high = fall(book, START + 100)
    assert book.due(START + 5000) == [high, low]


def test_a_one_tier_policy_renotifies_the_same_people() -> None:
    book = AlertBook(EscalationPolicy(tiers=("everyone",),
                                      acknowledge_within={"high": 10, "medium": 20, "low": 30},
                                      resolve_within={"high": 5, "medium": 5, "low": 5}))
    try:
        alert, _ = book.raise_alert(key="call_button", priority="medium", now=0.0)
        assert book.due(20.0) == [alert] and alert.tier == 0
        assert alert.history[-1] == (20.0, "renotified", "everyone")
    finally:
        book.close()


@pytest.mark.parametrize("kwargs, message", [
    (dict(tiers=()), "tiers: needs at least one tier"),
    (dict(tiers=("a", "a")), "tiers: a tier is named twice"),
    (dict(tiers=("a", "")), r"tiers\[1\]: tier '' is not a name"),
    (dict(acknowledge_within={"high": 60, "medium": 0, "low": 900}),
     "acknowledge_within.medium: 0 is not a positive number"),
    (dict(resolve_within={"high": -1, "medium": 1, "low": 1}),
     "resolve_within.high: -1 is not a positive number"),
    (dict(resolve_within={"high": 1, "medium": 1}), "resolve_within: no time for low"),
    (dict(acknowledge_within={"high": 1, "medium": 1, "low": 1, "urgent": 1}),
     "'urgent' is not one of"),
    (dict(acknowledge_within={"high": float("inf"), "medium": 1, "low": 1}),
     "is not a positive number"),
])
def test_a_bad_policy_is_refused(kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        EscalationPolicy(**kwargs)


def test_a_policy_takes_priority_members_and_keeps_its_own_copy() -> None:
    times = {HIGH: 30, MEDIUM: 60, LOW: 90}
    policy = EscalationPolicy(acknowledge_within=times)
    times[HIGH] = 1
    assert policy.acknowledge_period(HIGH) == 30.0 and policy.acknowledge_within["low"] == 90.0


# == dedupe, robots, tasks ======================================================

def test_an_open_alert_with_the_same_dedupe_key_is_not_raised_twice(book) -> None:
    first = fall(book, dedupe="fall:room_209")
    again, new = book.raise_alert(key="fall_detected", priority=HIGH, now=START + 5,
                                  source="wearable_9", dedupe="fall:room_209")
    assert (again, new, first.repeats) == (first, False, 1)
    assert first.history[-1] == (START + 5, "repeated", "wearable_9")
    assert first.deadline == START + 60                # a repeat does not push the deadline
    other, new = book.raise_alert(key="fall_detected", priority=HIGH, now=START + 6,
                                  dedupe="fall:room_210")
    assert new and other is not first
    book.acknowledge(first.id, "nurse_li", START + 10)
    assert book.raise_alert(key="fall_detected", priority=HIGH, now=START + 11,
                            dedupe="fall:room_209") == (first, False)   # still open
    book.resolve(first.id, "nurse_li", START + 20)
    later, new = book.raise_alert(key="fall_detected", priority=HIGH, now=START + 30,
                                  dedupe="fall:room_209")
    assert new and later is not first                  # resolved: the key is free again
    assert len(book.open()) == 2


def test_robot_arrived_stamps_open_alerts_of_that_task_once(book) -> None:
    one = fall(book, task_id="t1-000001")
    two = fall(book, START + 1, task_id="t1-000001", key="call_button", priority=MEDIUM)
    other = fall(book, START + 2, task_id="t1-000002")
    done = fall(book, START + 3, task_id="t1-000001")
    book.resolve(done.id, "nurse_li", START + 4)
    assert book.robot_arrived("t1-000001", START + 40) == [one, two]
    assert (one.robot_arrived_at, two.robot_arrived_at) == (START + 40, START + 40)
    assert other.robot_arrived_at is None and done.robot_arrived_at is None
    assert one.history[-1] == (START + 40, "robot_arrived", "r1")
    assert book.robot_arrived("t1-000001", START + 90) == []   # the first arrival counts
    assert one.robot_arrived_at == START + 40
    assert one.state is RAISED                         # arrival is no acknowledgement


def test_resolve_for_task_resolves_every_open_alert_of_that_task(book) -> None:
    one = fall(book, task_id="t1-000001")
    two = fall(book, START + 1, task_id="t1-000001")
    book.acknowledge(two.id, "nurse_li", START + 2)
    other = fall(book, START + 3, task_id="t1-000002")
    assert book.resolve_for_task("t1-000001", "orchestrator", START + 50) == [one, two]
    assert {one.state, two.state, other.state} == {RESOLVED, RAISED}
    assert one.resolved_by == "orchestrator"
    assert book.resolve_for_task("t1-000001", "orchestrator", START + 60) == []


def test_open_is_sorted_by_priority_then_age(book) -> None:
    low, _ = book.raise_alert(key="task_failed", priority=LOW, now=START)
    medium, _ = book.raise_alert(key="camera_down", priority=MEDIUM, now=START + 1)
    older = fall(book, START + 2)
    newer = fall(book, START + 3)
    assert book.open() == [older, newer, medium, low]


def test_take_finished_hands_over_resolved_alerts_and_forgets_them(book) -> None:
    one, two, three = (fall(book, START + i) for i in range(3))
    book.resolve(two.id, "nurse_li", START + 10)
    book.resolve(one.id, "nurse_li", START + 11)
    assert book.get(two.id) is two                     # kept until taken
    assert book.take_finished() == [two, one]
    assert book.take_finished() == [] and len(book) == 1
    with pytest.raises(InputError, match=f"alert {one.id}: no such alert"):
        book.get(one.id)
    assert book.open() == [three]


# == records and restart ========================================================

def test_a_record_is_json_and_detached(book) -> None:
    alert = fall(book, dedupe="fall:room_209")
    record = alert.to_record()
    assert json.loads(json.dumps(record)) == record
    record["params"]["place"] = "elsewhere"
    record["history"].append([0, "x", "y"])
    assert alert.params == {"place": "Room 209"} and len(alert.history) == 1


def test_restore_mid_escalation_keeps_state_tier_deadlines_and_history(book) -> None:
    escalated = fall(book, dedupe="fall:room_209")
    book.due(START + 60)                                          # tier 1
    taken = fall(book, START + 61, key="call_button", priority=MEDIUM)
    book.acknowledge(taken.id, "nurse_li", START + 70)
    done = fall(book, START + 71)
    book.robot_arrived(escalated.task_id, START + 80)
    book.resolve(done.id, "nurse_li", START + 90)
    records = [json.loads(json.dumps(a.to_record())) for a in (escalated, taken, done)]

    restarted = AlertBook(EscalationPolicy(), incarnation=8)
    try:
        assert restarted.restore(records) == 2                   # resolved ones are skipped
        assert [a.to_record() for a in restarted.open()] == [a.to_record() for a in book.open()]
        again = restarted.get(escalated.id)
        assert (again.state, again.tier, again.deadline) == (RAISED, 1, START + 120)
        assert isinstance(again.history[0], tuple) and in_machine(again)
        assert restarted.get(taken.id).state is ACKNOWLEDGED
        assert restarted.next_deadline() == book.next_deadline()
        # both books go on exactly alike
        for now in (START + 120, START + 180, START + 1870, START + 1930):
            assert [a.id for a in restarted.due(now)] == [a.id for a in book.due(now)]
        assert [a.to_record() for a in restarted.open()] == [a.to_record() for a in book.open()]
        # the machine state came back too: triggers work on the restored alerts
        restarted.acknowledge(escalated.id, "nurse_wang", START + 2000)
        # dedupe keys of open alerts came back; new ids carry the new incarnation
        assert restarted.raise_alert(key="fall_detected", priority=HIGH, now=START + 2001,
                                     dedupe="fall:room_209")[1] is False
        fresh, _ = restarted.raise_alert(key="call_button", priority=LOW, now=START + 2002)
        assert fresh.id == "a8-00001"
    finally:
        restarted.close()


def test_restore_in_the_same_incarnation_never_reuses_an_id(book) -> None:
    records = [fall(book, START + i).to_record() for i in range(3)]
    twin = AlertBook(incarnation=7)
    try:
        twin.restore(records)
        assert twin.raise_alert(key="k", priority=LOW, now=START + 5)[0].id == "a7-00004"
    finally:
        twin.close()


@pytest.mark.parametrize("change, message", [
    (dict(state="pending"), "state: 'pending' is not one of: raised, acknowledged, resolved"),
    (dict(priority="urgent"), "priority: 'urgent' is not one of"),
    (dict(raised_at="noon"), "raised_at: expected a time"),
    (dict(deadline=None), "deadline: must be set exactly when the alert is open"),
    (dict(tier=-1), "tier: expected a count"),
    (dict(tier=3), "tier: tier 3 is past the last tier"),
    (dict(history=[[1.0, "raised"]]), r"history\[0\]: expected \[time, what, who\]"),
    (dict(id="a7-00001"), "a7-00001: this alert id is already open"),
])
def test_a_broken_record_is_refused_whole_naming_the_field(book, change, message) -> None:
    good = fall(book)
    records = [good.to_record(), {**good.to_record(), "id": "a7-00002", **change}]
    models = len(MACHINE.models)
    fresh = AlertBook(incarnation=9)
    with pytest.raises(InputError, match=message):
        fresh.restore(records)
    assert len(fresh) == 0 and fresh.next_deadline() is None
    assert len(MACHINE.models) == models               # nothing half-restored stays behind


def test_a_missing_field_is_named() -> None:
    record = {"id": "a1-00001", "state": "raised"}
    with pytest.raises(InputError, match="alert record a1-00001: key: missing"):
        Alert.from_record(record)


def test_a_resolved_record_comes_back_resolved_outside_the_machine(book) -> None:
    alert = fall(book)
    book.resolve(alert.id, "nurse_li", START + 9)
    again = Alert.from_record(alert.to_record())
    assert again.state is RESOLVED and not in_machine(again)
    assert again.to_record() == alert.to_record()


# == KPIs =======================================================================

def test_stage_times_report_median_and_max_by_stage_and_priority(book) -> None:
    records = []
    for i, (ack, arrive, resolve) in enumerate([(10, 40, 100), (30, None, 300),
                                                (20, 60, None), (50, 80, 200)]):
        alert = fall(book, START + 1000 * i)
        raised = alert.raised_at
        book.acknowledge(alert.id, "nurse_li", raised + ack)
        if arrive is not None:
            book.robot_arrived(alert.task_id, raised + arrive)
        if resolve is not None:
            book.resolve(alert.id, "nurse_li", raised + resolve)
        records.append(alert.to_record())
        if resolve is None:
            book.resolve(alert.id, "nurse_li", raised + 999)   # not in the record
    low, _ = book.raise_alert(key="task_failed", priority=LOW, now=START + 9000)
    records.append(low.to_record())

    times = stage_times(records)
    assert times["high"] == {
        "count": 4,
        "acknowledged": {"count": 4, "median_s": 25.0, "max_s": 50.0},
        "robot_arrived": {"count": 3, "median_s": 60.0, "max_s": 80.0},
        "resolved": {"count": 3, "median_s": 200.0, "max_s": 300.0},
    }
    nothing = {"count": 0, "median_s": None, "max_s": None}
    assert times["low"] == {"count": 1, "acknowledged": nothing, "robot_arrived": nothing,
                            "resolved": nothing}
    assert times["medium"]["count"] == 0
    assert stage_times([]) == {p.value: {"count": 0, "acknowledged": nothing,
                                         "robot_arrived": nothing, "resolved": nothing}
                               for p in AlertPriority}


def test_the_diagram_is_drawn_from_the_transition_data() -> None:
    dot = alert_diagram()
    assert '"acknowledged" -> "raised" [label="come_back"];' in dot
    assert dot.count("->") == 4


# == property: any mix of raise / acknowledge / resolve / time ======================

class AlertBookMachine(RuleBasedStateMachine):
    """Random sequences against one book (restarted now and then from its records);
    the invariants hold after every step, and a refused call changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = EscalationPolicy(tiers=("nurse", "charge", "all"),
                                       acknowledge_within={"high": 60, "medium": 180, "low": 900},
                                       resolve_within={"high": 600, "medium": 1800, "low": 7200})
        self.incarnation = 1
        self.book = AlertBook(self.policy, incarnation=self.incarnation)
        self.now = START
        self.ids: list[str] = []
        self.resolved: set[str] = set()
        self.taken: set[str] = set()

    def teardown(self) -> None:
        self.book.close()

    def snapshot(self) -> list[dict[str, Any]]:
        return [a.to_record() for a in self.book._alerts.values()]

    def pick(self, index: int) -> str:
        return (self.ids + ["a9-99999"])[index % (len(self.ids) + 1)]

    @rule(priority=st.sampled_from(AlertPriority), dedupe=st.sampled_from([None, "d1", "d2"]),
          task=st.sampled_from([None, "t1", "t2"]))
    def raise_one(self, priority, dedupe, task) -> None:
        alert, new = self.book.raise_alert(key="call_button", priority=priority, now=self.now,
                                           dedupe=dedupe, task_id=task)
        assert new or (dedupe is not None and alert.dedupe == dedupe and alert.is_open)
        if new:
            assert alert.id not in self.ids
            self.ids.append(alert.id)

    @rule(index=st.integers(0, 50), resolve=st.booleans())
    def staff_answer(self, index, resolve) -> None:
        alert_id = self.pick(index)
        state = None if alert_id in self.taken or alert_id not in self.book._alerts \
            else self.book.get(alert_id).state
        legal = state is RAISED or (resolve and state is ACKNOWLEDGED)
        before = self.snapshot()
        try:
            if resolve:
                self.book.resolve(alert_id, "nurse", self.now)
                self.resolved.add(alert_id)
            else:
                self.book.acknowledge(alert_id, "nurse", self.now)
        except InputError as refused:
            assert not legal and alert_id in str(refused)
            assert self.snapshot() == before
        else:
            assert legal

    @rule(seconds=st.one_of(st.integers(0, 1000), st.floats(0, 8000)))
    def time_passes(self, seconds) -> None:
        self.now += seconds
        open_before = {a.id: (a.state, a.tier) for a in self.book.open()}
        changed = self.book.due(self.now)
        for alert in changed:
            _, tier = open_before[alert.id]
            assert alert.state is RAISED
            assert alert.tier == min(tier + 1, self.policy.last_tier)

    @rule(task=st.sampled_from(["t1", "t2"]), resolve=st.booleans())
    def task_news(self, task, resolve) -> None:
        if resolve:
            self.resolved |= {a.id for a in self.book.resolve_for_task(task, "robot", self.now)}
        else:
            for alert in self.book.robot_arrived(task, self.now):
                assert alert.robot_arrived_at == self.now

    @rule()
    def take_finished(self) -> None:
        taken = self.book.take_finished()
        assert all(a.state is RESOLVED for a in taken)
        self.taken |= {a.id for a in taken}

    @rule()
    def restart(self) -> None:
        records = [json.loads(json.dumps(a.to_record())) for a in self.book._alerts.values()]
        expected = [a.to_record() for a in self.book.open()]
        self.book.close()
        self.incarnation += 1
        self.book = AlertBook(self.policy, incarnation=self.incarnation)
        assert self.book.restore(records) == len(expected)
        assert [a.to_record() for a in self.book.open()] == expected
        self.taken |= self.resolved

    @invariant()
    def promises_hold(self) -> None:
        alerts = list(self.book._alerts.values())
        for alert in alerts:
            assert (alert.deadline is None) == (alert.state is RESOLVED)
            assert 0 <= alert.tier <= self.policy.last_tier
            for stamp in (alert.acknowledged_at, alert.robot_arrived_at, alert.resolved_at):
                assert stamp is None or stamp >= alert.raised_at
            assert alert.deadline is None or alert.deadline > self.now
            assert in_machine(alert) == alert.is_open
            if alert.id in self.resolved:
                assert alert.state is RESOLVED                 # never comes back
        open_ids = {a.id for a in self.book.open()}
        assert not open_ids & (self.resolved | self.taken)
        deadlines = [a.deadline for a in alerts if a.is_open]
        assert self.book.next_deadline() == (min(deadlines) if deadlines else None)
        dedupes = [a.dedupe for a in self.book.open() if a.dedupe is not None]
        assert len(dedupes) == len(set(dedupes))


AlertBookMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow])
test_any_mix_of_alert_events_keeps_the_promises = AlertBookMachine.TestCase
