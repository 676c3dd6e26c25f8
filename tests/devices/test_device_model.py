"""The device model validates itself; health follows heartbeats with time as an argument."""

from __future__ import annotations

import pytest

from carefleet.errors import InputError
from carefleet.devices.model import (Device, DeviceKind, Health, HealthPolicy, HealthWatch,
                                     Limits, Liveness, Resident, health_of)

POLICY = HealthPolicy(interval=10.0, grace=2.0, missed=3, battery_low=0.2)


def test_a_fixed_device_has_a_room_and_a_wearable_a_resident() -> None:
    bed = Device(id="bed-101", kind="bed_exit", room="room_101", labels=["night"])
    assert bed.kind is DeviceKind.BED_EXIT and bed.room_bound and bed.labels == {"night"}
    band = Device(id="band-anna", kind=DeviceKind.WEARABLE, resident="anna")
    assert not band.room_bound
    assert band.accepts("fall") and band.accepts("heartbeat") and not band.accepts("door_open")
    assert Device.from_record(bed.record()) == bed


@pytest.mark.parametrize("fields, field", [
    ({"id": "", "kind": "bed_exit", "room": "r"}, "id"),
    ({"id": "robot:x", "kind": "bed_exit", "room": "r"}, "id"),
    ({"id": "a", "kind": "toaster", "room": "r"}, "kind"),
    ({"id": "a", "kind": "wearable"}, "resident"),
    ({"id": "a", "kind": "bed_exit", "room": "r", "resident": "anna"}, "resident"),
    ({"id": "a", "kind": "bed_exit", "room": "r", "stream_url": "rtsp://x/1"}, "stream_url"),
    ({"id": "a", "kind": "room_camera", "room": "r", "stream_url": "file:///etc"}, "stream_url"),
    ({"id": "a", "kind": "bed_exit", "room": "r", "labels": ["Exit!"]}, "labels"),
    ({"id": "a", "kind": "bed_exit", "room": "r", "api": 2}, "api"),
    ({"id": "a", "kind": "bed_exit", "room": "r", "model": "x" * 81}, "model"),
])
def test_a_bad_device_is_refused_naming_the_field(fields: dict, field: str) -> None:
    with pytest.raises(InputError) as caught:
        Device(**fields)
    assert caught.value.field == field


def test_resident_limits() -> None:
    anna = Resident(id="anna", room="room_101", heart_rate=Limits(low=50, high=110))
    assert anna.outside_limits({"heart_rate": 120, "spo2": 95}) == {"heart_rate": 120.0}
    assert anna.outside_limits({"heart_rate": 80, "spo2": 85}) == {"spo2": 85.0}
    assert anna.outside_limits({"heart_rate": True}) == {}
    with pytest.raises(InputError):
        Limits(low=100, high=90)


def test_health_from_heartbeats_with_time_as_an_argument() -> None:
    seen = Liveness(last_seen=1000.0, battery=0.9)
    assert health_of(seen, 1000.0 + 12.0, POLICY) is Health.OK        # interval + grace
    assert health_of(seen, 1000.0 + 12.5, POLICY) is Health.LATE
    assert health_of(seen, 1000.0 + 31.9, POLICY) is Health.LATE
    assert health_of(seen, 1000.0 + 32.0, POLICY) is Health.SILENT    # 3 missed + grace
    assert health_of(Liveness(last_seen=1000.0, battery=0.2), 1001.0, POLICY) is Health.BATTERY_LOW
    assert health_of(Liveness(last_seen=1000.0, goodbye=True), 1001.0, POLICY) is Health.GONE


def test_the_watch_reports_each_change_once() -> None:
    watch = HealthWatch(POLICY)
    watch.add("bed-101", 0.0)
    assert watch.check(5.0) == []
    assert [(c.before, c.after) for c in watch.check(13.0)] == [(Health.OK, Health.LATE)]
    assert watch.check(20.0) == []
    assert [c.after for c in watch.check(32.0)] == [Health.SILENT]
    assert watch.check(40.0) == []
    watch.seen("bed-101", 41.0, battery=0.1)
    assert [c.after for c in watch.check(41.0)] == [Health.BATTERY_LOW]
    watch.seen("bed-101", 42.0, battery=0.8)
    assert [c.after for c in watch.check(42.0)] == [Health.OK]
    watch.goodbye("bed-101", 43.0)
    assert [c.after for c in watch.check(43.0)] == [Health.GONE]
    assert watch.next_check() is None
    watch.seen("bed-101", 50.0)                    # back after a goodbye
    assert [c.after for c in watch.check(50.0)] == [Health.OK]
    assert watch.next_check() == 62.0


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(InputError):
        HealthPolicy(interval=0)
    with pytest.raises(InputError):
        HealthPolicy(missed=0)
