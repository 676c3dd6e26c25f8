"""TaskStore against real SQLite files: round trips, atomicity, crashes, bad files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carefleet.errors import InputError, StoreError
from carefleet.orchestrator.journal import Audited, ScheduleMarked, StateSaved, TaskSaved
from carefleet.orchestrator.store import TaskStore
from carefleet.tasks.errands import GoTo
from carefleet.tasks.model import Priority
from carefleet.tasks.requests import task_from_record


def record(task_id: str, state: str = "queued", *, created_at: float = 0.0,
           reason: str = "", **progress: Any) -> dict[str, Any]:
    """A record shaped like ``Task.to_record()``."""
    return {"id": task_id, "kind": "go_to", "priority": "normal", "created_at": created_at,
            "requested_by": "staff:anna", "robot": None, "due": None, "state": state,
            "assigned_robot": None, "reason": reason, "attempts": 0, "failed_on": [],
            "finished_at": None, "progress": {"place": "room_101", **progress}}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "carefleet.db"


@pytest.fixture
def store(path: Path) -> Iterator[TaskStore]:
    with TaskStore(path) as opened:
        yield opened


def test_a_real_task_record_round_trips_and_rebuilds(store: TaskStore) -> None:
    task = GoTo(id="t1", priority=Priority.HIGH, created_at=100.0,
                requested_by="staff:anna", place="nurse_station_f1", due=160.0)
    store.write([TaskSaved(record=task.to_record())], now=100.0)

    assert store.task("t1") == task.to_record()
    rebuilt = task_from_record(store.open_tasks()[0])
    assert (rebuilt.id, rebuilt.priority, rebuilt.place, rebuilt.due) == \
        ("t1", Priority.HIGH, "nurse_station_f1", 160.0)
    assert store.task("nope") is None


def test_open_tasks_are_the_unfinished_ones_in_creation_order(store: TaskStore) -> None:
    store.write([TaskSaved(record=record("late", created_at=30.0)),
                 TaskSaved(record=record("done", "completed", created_at=5.0)),
                 TaskSaved(record=record("early", "active", created_at=10.0)),
                 TaskSaved(record=record("mid", "assigned", created_at=20.0))], now=40.0)

    assert [r["id"] for r in store.open_tasks()] == ["early", "mid", "late"]
    assert [r["id"] for r in store.all_tasks()] == ["done", "early", "mid", "late"]


def test_history_grows_only_when_the_state_changes(store: TaskStore) -> None:
    store.write([TaskSaved(record=record("t1"))], now=1.0)
    store.write([TaskSaved(record=record("t1", step=1))], now=2.0)      # same state
    store.write([TaskSaved(record=record("t1", "assigned", reason="r1 free")),
                 TaskSaved(record=record("t1", "active", reason="r1 started"))], now=3.0)
    store.write([TaskSaved(record=record("t1", "active", reason="r1 started"))], now=4.0)

    assert store.history("t1") == [(1.0, "queued", ""), (3.0, "assigned", "r1 free"),
                                   (3.0, "active", "r1 started")]
    assert store.task("t1")["state"] == "active"
    assert store.history("nope") == []


def test_history_time_defaults_to_the_batch_audit_time(store: TaskStore) -> None:
    store.write([TaskSaved(record=record("t1")),
                 Audited(at=7.0, actor="staff:anna", action="task_submitted", task_id="t1")])
    assert store.history("t1") == [(7.0, "queued", "")]


def test_audit_is_filtered_and_append_only(store: TaskStore, path: Path) -> None:
    entries = [Audited(at=1.0, actor="staff:anna", action="task_submitted", task_id="t1"),
               Audited(at=2.0, actor="orchestrator", action="navigate", task_id="t1",
                       robot_id="r1", detail={"place": "kitchen_f1", "eta": 12.5}),
               Audited(at=3.0, actor="robot:r2", action="docked", robot_id="r2")]
    store.write(entries)

    assert store.audit() == entries
    assert store.audit(task_id="t1") == entries[:2]
    assert store.audit(robot_id="r1") == [entries[1]]
    assert store.audit(since=2.0) == entries[1:]
    assert store.audit(task_id="t1", since=2.0) == [entries[1]]

    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM audit WHERE seq = 1")
    raw.close()
    assert store.audit() == entries


def test_marks_are_upserted(store: TaskStore) -> None:
    store.write([ScheduleMarked(name="lunch", until=100.0),
                 ScheduleMarked(name="patrol", until=50.0)])
    store.write([ScheduleMarked(name="lunch", until=200.0)])
    assert store.marks() == {"lunch": 200.0, "patrol": 50.0}


@pytest.mark.parametrize("bad", [
    TaskSaved(record=record("t2", when=object())),        # not JSON-able
    TaskSaved(record=record("t2", ratio=float("nan"))),   # not JSON
    TaskSaved(record=record("t2", "lost")),                        # CHECK fails in SQL
    Audited(at=5.0, actor="x", action="y", detail={"f": {1, 2}}),  # not JSON-able
    Audited(at=None, actor="x", action="y"),   # NOT NULL fails in SQL, after the tasks
])
def test_a_failing_batch_leaves_nothing(store: TaskStore, bad: Any) -> None:
    store.write([TaskSaved(record=record("t0")), ScheduleMarked(name="lunch", until=1.0)],
                now=1.0)
    batch = [TaskSaved(record=record("t0", "assigned")), TaskSaved(record=record("t1")),
             Audited(at=5.0, actor="staff:anna", action="task_submitted", task_id="t1"),
             ScheduleMarked(name="lunch", until=9.0), bad]

    with pytest.raises((TypeError, ValueError, sqlite3.IntegrityError)):
        store.write(batch, now=5.0)

    assert [r["id"] for r in store.all_tasks()] == ["t0"]
    assert store.task("t0")["state"] == "queued"
    assert store.history("t0") == [(1.0, "queued", "")]
    assert store.audit() == []
    assert store.marks() == {"lunch": 1.0}
    store.write([TaskSaved(record=record("t1"))], now=6.0)     # and the store still works
    assert store.task("t1") is not None


def test_a_reader_sees_the_writers_commits(path: Path) -> None:
    with TaskStore(path) as writer, TaskStore(path, writer=False) as reader:
        writer.write([TaskSaved(record=record("t1"))], now=1.0)
        assert reader.task("t1")["state"] == "queued"
        writer.write([TaskSaved(record=record("t1", "assigned"))], now=2.0)
        assert reader.task("t1")["state"] == "assigned"
        assert reader.history("t1") == [(1.0, "queued", ""), (2.0, "assigned", "")]
        with pytest.raises(StoreError, match="read-only"):
            reader.write([TaskSaved(record=record("t2"))], now=3.0)


def test_a_second_writer_is_refused_naming_the_holder(path: Path) -> None:
    with TaskStore(path) as first:
        with pytest.raises(StoreError, match=r"already in use by another orchestrator \(pid "
                           rf"{os.getpid()} on ") as caught:
            TaskStore(path)
        assert "\n" not in str(caught.value)
        first.write([TaskSaved(record=record("t1"))], now=1.0)    # the holder is unharmed
    with TaskStore(path) as again:                                 # released on close
        assert again.task("t1") is not None


def test_the_lock_dies_with_a_killed_holder(path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from carefleet.orchestrator.store import TaskStore\n"
        "s = TaskStore(sys.argv[1]); print('held', flush=True); time.sleep(60)"), str(path)],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    with pytest.raises(StoreError, match=f"pid {child.pid}"):
        TaskStore(path)
    child.kill()
    child.wait()
    TaskStore(path).close()


def test_incarnations_count_every_writer_open(path: Path) -> None:
    seen = []
    for _ in range(3):
        with TaskStore(path) as store:
            seen.append(store.incarnation)
    assert seen == [1, 2, 3]


def test_a_full_disk_refuses_the_batch_with_the_real_cause(path: Path) -> None:
    with TaskStore(path) as store:
        store.write([TaskSaved(record=record("t1"))], now=1.0)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")       # the disk is now full
        big = [TaskSaved(record=record(f"t{i}", reason="x" * 4000)) for i in range(2, 50)]
        with pytest.raises(StoreError, match="could not commit: database or disk is full"):
            store.write(big, now=2.0)
        assert store.task("t2") is None and store.task("t1") is not None   # none of it
        store._db.execute(f"PRAGMA max_page_count = {pages * 100}")
        store.write(big, now=3.0)                                   # and it recovers
        assert store.task("t49") is not None


def test_core_state_is_kept(path: Path) -> None:
    with TaskStore(path) as store:
        store.write([StateSaved(key="closed", value=["lift_a"])], now=1.0)
        store.write([StateSaved(key="closed", value=[])], now=2.0)
        store.write([StateSaved(key="other", value={"a": 1})], now=2.0)
    with TaskStore(path) as store:
        assert store.core_state() == {"closed": [], "other": {"a": 1}}


# The child writes batch i = (task t<i> queued then assigned, an audit, a mark) and
# SIGKILLs itself: after the last commit, or inside batch ``kill_in`` once the task
# rows of that batch are written but before its audit row is.
CHILD = """
import os, signal, sys
from carefleet.orchestrator.journal import Audited, ScheduleMarked, TaskSaved
from carefleet.orchestrator.store import TaskStore

path, batches, kill_in = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = TaskStore(path)
seen = []

def die_at_audit(sql):
    seen.append(sql)
    if sql.lstrip().startswith("INSERT INTO audit"):
        if not any(s.lstrip().startswith("INSERT INTO tasks") for s in seen):
            sys.exit(3)                      # the kill would not be mid-batch
        os.kill(os.getpid(), signal.SIGKILL)

for i in range(batches):
    rec = {"id": f"t{i}", "kind": "go_to", "priority": "normal", "created_at": float(i),
           "requested_by": "staff:anna", "state": "queued", "reason": "",
           "progress": {"place": "room_101"}}
    if i == kill_in:
        store._db.set_trace_callback(die_at_audit)
    store.write([TaskSaved(record=rec), TaskSaved(record={**rec, "state": "assigned"}),
                 Audited(at=float(i), actor="staff:anna", action="task_submitted",
                         task_id=f"t{i}"),
                 ScheduleMarked(name="lunch", until=float(i))], now=float(i))
os.kill(os.getpid(), signal.SIGKILL)
"""


def run_child(path: Path, batches: int, kill_in: int) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(batches), str(kill_in)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_every_commit_survives_a_kill_right_after_it(path: Path) -> None:
    run_child(path, batches=20, kill_in=-1)

    with TaskStore(path) as store:
        assert [r["id"] for r in store.open_tasks()] == [f"t{i}" for i in range(20)]
        assert {r["state"] for r in store.all_tasks()} == {"assigned"}
        assert store.history("t19") == [(19.0, "queued", ""), (19.0, "assigned", "")]
        assert len(store.audit()) == 20
        assert store.marks() == {"lunch": 19.0}


def test_a_kill_inside_a_batch_leaves_no_half_batch(path: Path) -> None:
    run_child(path, batches=10, kill_in=6)

    with TaskStore(path) as store:
        assert [r["id"] for r in store.all_tasks()] == [f"t{i}" for i in range(6)]
        assert store.task("t6") is None and store.history("t6") == []
        assert [a.task_id for a in store.audit()] == [f"t{i}" for i in range(6)]
        assert store.marks() == {"lunch": 5.0}
        store.write([TaskSaved(record=record("t6"))], now=7.0)   # writable after recovery
        assert store.task("t6") is not None


# -- files that are not (our) task stores -------------------------------------------
def refused(path: Path, match: str) -> InputError:
    with pytest.raises(InputError, match=match) as caught:
        TaskStore(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    return caught.value


def test_a_text_file_is_refused(path: Path) -> None:
    path.write_text("lunch: room_101\n" * 200)
    refused(path, "not a readable CareFleet task store")
    assert path.read_text() == "lunch: room_101\n" * 200


def test_a_truncated_store_is_refused(path: Path) -> None:
    with TaskStore(path) as store:
        store.write([TaskSaved(record=record(f"t{i}", created_at=float(i), reason="x" * 200))
                     for i in range(200)], now=1.0)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    refused(path, "not a readable CareFleet task store|task store is damaged")


def test_a_store_with_a_newer_schema_version_is_refused(path: Path) -> None:
    TaskStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE carefleet_schema SET version = 3")
    raw.close()
    refused(path, "schema version 3 is newer")


def test_a_store_with_an_unknown_schema_version_is_refused(path: Path) -> None:
    TaskStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE carefleet_schema SET version = 'v1'")
    raw.close()
    refused(path, "unknown task store schema version")


def test_someone_elses_sqlite_file_is_refused_untouched(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE residents (name TEXT)")
    raw.close()
    before = path.read_bytes()
    refused(path, r"not a CareFleet task store \(tables: residents\)")
    assert path.read_bytes() == before


def test_an_unreachable_path_is_refused(tmp_path: Path) -> None:
    refused(tmp_path / "missing" / "carefleet.db", "cannot open task store")
