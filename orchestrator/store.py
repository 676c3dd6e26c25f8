"""The embedded task store: journal entries written to SQLite, one transaction per event.

The core journals (``journal.py``) and a runtime calls ``TaskStore.write`` with every
entry of one handled event *before* it acts on the commands. Because the whole batch is
one ``BEGIN IMMEDIATE ... COMMIT``, a crash leaves either all of an event's effects on
disk or none of them, and a restarted orchestrator rebuilds its queue from
``open_tasks()`` (``tasks.requests.task_from_record``): nothing accepted is ever lost.

Durability choice: WAL with ``synchronous=FULL``. With ``NORMAL`` a WAL commit is safe
against a process crash but not against power loss (the last commits may roll back,
because the WAL is only synced at checkpoints), and a care home's power cut is exactly
the crash we must survive. ``FULL`` syncs the WAL on every commit; measured at about
0.3 ms per transaction here, a few hundred transactions per simulated day cost well
under a second.

Invariants live in the schema rather than in Python, so they hold for any writer
(a migration script, the ``sqlite3`` shell): triggers append ``task_history`` rows
whenever a task's state changes and make ``audit`` append-only; CHECK constraints refuse
unknown task states.

One writer per file: a writing ``TaskStore`` holds an exclusive OS lock (``flock``) on
``<store>.lock`` for its lifetime and writes who holds it there, so a second
orchestrator on the same store is refused with a message naming the holder, and the
lock goes away with the process however it dies (SIGKILL included). Each writer open
also counts an *incarnation*, which the core puts in its command ids so that a robot's
late answer to a command from before a restart is never taken for a new one.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from carefleet.errors import InputError, StoreError
from carefleet.orchestrator.journal import (AlertSaved, Audited, JournalEntry, ScheduleMarked,
                                            StateSaved, TaskSaved)

SCHEMA_VERSION = 2
"""The layout this code reads and writes; bump it (with a migration) on any change."""

OPEN_STATES = ("queued", "assigned", "active")
_STATES = OPEN_STATES + ("completed", "failed", "cancelled")
_STATE_CHECK = "state IN ({})".format(", ".join(f"'{s}'" for s in _STATES))

_SCHEMA = f"""
CREATE TABLE carefleet_schema (version INTEGER NOT NULL);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK ({_STATE_CHECK}),
    priority TEXT NOT NULL,
    record TEXT NOT NULL CHECK (json_valid(record)),
    updated_at REAL NOT NULL
);
CREATE INDEX tasks_by_state ON tasks (state);
CREATE TABLE task_history (
    task_id TEXT NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX task_history_by_task ON task_history (task_id);
CREATE TRIGGER task_history_on_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_history (task_id, at, state, reason)
    VALUES (new.id, new.updated_at, new.state,
            coalesce(json_extract(new.record, '$.reason'), ''));
END;
CREATE TRIGGER task_history_on_state_change AFTER UPDATE OF state ON tasks
WHEN old.state IS NOT new.state BEGIN
    INSERT INTO task_history (task_id, at, state, reason)
    VALUES (new.id, new.updated_at, new.state,
            coalesce(json_extract(new.record, '$.reason'), ''));
END;
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    task_id TEXT,
    robot_id TEXT,
    detail TEXT NOT NULL CHECK (json_valid(detail))
);
CREATE INDEX audit_by_task ON audit (task_id);
CREATE INDEX audit_by_robot ON audit (robot_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TABLE schedule_marks (name TEXT PRIMARY KEY, until REAL NOT NULL);
""" + """
CREATE TABLE core_state (key TEXT PRIMARY KEY, value TEXT NOT NULL CHECK (json_valid(value)));
CREATE TABLE incarnations (n INTEGER PRIMARY KEY AUTOINCREMENT, opened_at REAL NOT NULL,
                           holder TEXT NOT NULL);
CREATE TABLE alerts (id TEXT PRIMARY KEY, state TEXT NOT NULL, raised_at REAL NOT NULL,
                     record TEXT NOT NULL CHECK (json_valid(record)));
CREATE INDEX alerts_by_state ON alerts (state);
"""
#: Statements that bring a version-1 store (no core state, no incarnations) to version 2.
_MIGRATE_FROM_1 = _SCHEMA[_SCHEMA.index("CREATE TABLE core_state"):]

# Constant SQL text, so sqlite3's statement cache prepares each one only once.
_UPSERT_TASK = """
INSERT INTO tasks (id, kind, state, priority, record, updated_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state,
    priority = excluded.priority, record = excluded.record, updated_at = excluded.updated_at
"""
_INSERT_AUDIT = """
INSERT INTO audit (at, actor, action, task_id, robot_id, detail) VALUES (?, ?, ?, ?, ?, ?)
"""
_UPSERT_MARK = """
INSERT INTO schedule_marks (name, until) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET until = excluded.until
"""
_UPSERT_ALERT = """
INSERT INTO alerts (id, state, raised_at, record) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, record = excluded.record
"""
_UPSERT_STATE = """
INSERT INTO core_state (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value
"""
_BY_CREATION = "ORDER BY json_extract(record, '$.created_at'), id"


@contextmanager
def transaction(db: sqlite3.Connection, path: str) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE ... COMMIT``: all of it or none of it.

    A store that cannot commit (disk full, read-only, locked too long) is a
    ``StoreError`` with SQLite's own reason, after the rollback; a caller's bug (a
    constraint or a bad statement) propagates unchanged. Every writer of a store file
    (the task store, the service's accounts) writes through here.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(f"{path}: could not start a write: {exc}") from None
    try:
        yield db
        db.execute("COMMIT")
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
        _rollback(db)
        raise
    except sqlite3.Error as exc:
        _rollback(db)
        raise StoreError(f"{path}: could not commit: {exc}") from exc
    except BaseException:
        _rollback(db)
        raise


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite already rolled back some
    failures itself, e.g. a full disk, and a second ROLLBACK would hide the cause)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def create_schema(db: sqlite3.Connection) -> None:
    """Create the store's tables in an empty file, inside the caller's transaction (the
    service's accounts may be the first to touch a new store file)."""
    for statement in sql_statements(_SCHEMA):
        db.execute(statement)
    db.execute("INSERT INTO carefleet_schema (version) VALUES (?)", (SCHEMA_VERSION,))


class TaskStore:
    """Accepted tasks, their state history, the audit log and schedule marks in one file.

    Keeps a single connection for its lifetime (statements stay prepared, WAL stays
    open). Several ``TaskStore`` objects on one file (e.g. the service and a read-only
    dashboard) see each other's committed writes; writers wait for each other up to
    ``busy_timeout`` seconds.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0,
                 writer: bool = True) -> None:
        """Open (or create) the store; ``writer=False`` only reads and takes no lock
        (reports, a read-only dashboard)."""
        self.path = os.fspath(path)
        self.writer = writer
        self.incarnation = 0
        self._lock_fd: int | None = None
        if writer:
            self._lock()
        try:
            target = self.path if writer else f"file:{self.path}?mode=ro"
            # One thread at a time (the host's), but not always the one that opened it.
            self._db = sqlite3.connect(target, timeout=busy_timeout, isolation_level=None,
                                       uri=not writer, check_same_thread=False)
        except sqlite3.Error as exc:
            self._unlock()
            raise InputError(self.path, f"cannot open task store: {exc}") from None
        try:
            self._open()
            if writer:
                self.new_incarnation()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            self._unlock()
            raise InputError(self.path, f"not a readable CareFleet task store: {exc}") from None
        except (InputError, StoreError):
            self._db.close()
            self._unlock()
            raise

    def _lock(self) -> None:
        """Take the one-writer lock or refuse, naming whoever holds it."""
        lock_path = self.path + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(self.path, f"cannot open task store (its lock file "
                             f"{lock_path}: {exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"{self.path}: already in use by another orchestrator "
                             f"({holder}); stop it first or give another store") from None
        holder = self._holder()
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        self._lock_fd = fd

    @staticmethod
    def _holder() -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        return f"pid {os.getpid()} on {socket.gethostname()} since {since}"

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)      # closing the descriptor releases the flock
            self._lock_fd = None

    def new_incarnation(self) -> int:
        """Count a new life of the orchestrator on this store (at every writer open, and
        when a runtime rebuilds its core); its number goes into command ids."""
        with transaction(self._db, self.path) as db:
            cursor = db.execute("INSERT INTO incarnations (opened_at, holder) VALUES (?, ?)",
                                (time.time(), self._holder()))
        self.incarnation = int(cursor.lastrowid or 0)
        return self.incarnation

    def _open(self) -> None:
        """Check an existing file, switch to WAL, create the schema in a new file.

        A file we refuse is left byte for byte as it was: the checks only read, and
        switching to WAL (which rewrites the header) comes after them.
        """
        tables = self._tables()
        if tables:
            self._check_version(tables)
            problems = [row for (row,) in self._db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise InputError(self.path, f"task store is damaged: {problems[0]}")
        if not self.writer:
            if not tables:
                raise InputError(self.path, "not a CareFleet task store (empty)")
            return
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise InputError(self.path, f"cannot use WAL journaling here (got '{mode}')")
        self._db.execute("PRAGMA synchronous=FULL")
        if not tables:
            self._create()
        elif self._version() == 1 and self.writer:
            self._migrate_from_1()

    def _create(self) -> None:
        # IMMEDIATE: two processes opening a new file at once must not both create it.
        with transaction(self._db, self.path) as db:
            tables = self._tables()
            if tables:
                self._check_version(tables)
            else:
                create_schema(db)

    def _tables(self) -> set[str]:
        return {name for (name,) in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _check_version(self, tables: set[str]) -> None:
        if "carefleet_schema" not in tables:
            raise InputError(self.path, "an SQLite file but not a CareFleet task store "
                                        f"(tables: {', '.join(sorted(tables))})")
        versions = [v for (v,) in self._db.execute("SELECT version FROM carefleet_schema")]
        if len(versions) != 1 or not isinstance(versions[0], int) or versions[0] < 1:
            raise InputError(self.path, f"unknown task store schema version {versions!r}")
        if versions[0] > SCHEMA_VERSION:
            raise InputError(self.path, f"task store schema version {versions[0]} is newer "
                                        f"than this CareFleet reads ({SCHEMA_VERSION}); "
                                        "upgrade CareFleet")

    def _version(self) -> int:
        return int(self._db.execute("SELECT version FROM carefleet_schema").fetchone()[0])

    def _migrate_from_1(self) -> None:
        with transaction(self._db, self.path) as db:
            for statement in sql_statements(_MIGRATE_FROM_1):
                db.execute(statement)
            db.execute("UPDATE carefleet_schema SET version = ?", (SCHEMA_VERSION,))

    # -- writing ------------------------------------------------------------
    def write(self, entries: Iterable[JournalEntry], *, now: float | None = None) -> None:
        """Write one event's journal entries atomically: all of them, or (on error) none.

        ``now`` stamps task history rows and ``updated_at``. Runtimes pass their clock
        (virtual in the simulation); without it the latest ``Audited.at`` of the batch
        is used, since the core stamps audits with its own clock, and only a batch
        without audits falls back to the wall clock.

        Serialisation errors (a record that is not JSON-able) and constraint errors
        (an unknown task state) propagate unchanged after the rollback: they are bugs
        in the caller, not in the file. A store that cannot commit (disk full,
        read-only, I/O error) raises ``StoreError`` with SQLite's own reason.
        """
        if not self.writer:
            raise StoreError(f"{self.path}: opened read-only")
        records: list[dict[str, Any]] = []
        audits: list[tuple[Any, ...]] = []
        marks: list[tuple[str, float]] = []
        states: list[tuple[str, str]] = []
        alerts: list[tuple[str, str, float, str]] = []
        for entry in entries:
            if isinstance(entry, TaskSaved):
                records.append(entry.record)
            elif isinstance(entry, Audited):
                audits.append((entry.at, entry.actor, entry.action, entry.task_id,
                               entry.robot_id, _json(entry.detail)))
            elif isinstance(entry, ScheduleMarked):
                marks.append((entry.name, entry.until))
            elif isinstance(entry, StateSaved):
                states.append((entry.key, _json(entry.value)))
            elif isinstance(entry, AlertSaved):
                r = entry.record
                alerts.append((r["id"], r["state"], r["raised_at"], _json(r)))
            else:
                raise TypeError(f"not a journal entry: {entry!r}")
        if not (records or audits or marks or states or alerts):
            return
        if now is None:
            now = max((audit[0] for audit in audits), default=None)
        at = time.time() if now is None else now
        tasks = [(r["id"], r["kind"], r["state"], r["priority"], _json(r), at) for r in records]
        with transaction(self._db, self.path) as db:
            db.executemany(_UPSERT_TASK, tasks)
            db.executemany(_INSERT_AUDIT, audits)
            db.executemany(_UPSERT_MARK, marks)
            db.executemany(_UPSERT_STATE, states)
            db.executemany(_UPSERT_ALERT, alerts)

    # -- reading ------------------------------------------------------------
    def open_tasks(self) -> list[dict[str, Any]]:
        """Records of unfinished tasks (queued/assigned/active), oldest first: what a
        restarted orchestrator must resume."""
        rows = self._db.execute(
            f"SELECT record FROM tasks WHERE state IN (?, ?, ?) {_BY_CREATION}", OPEN_STATES)
        return [json.loads(record) for (record,) in rows]

    def all_tasks(self) -> list[dict[str, Any]]:
        """Every stored task record, finished ones included, oldest first."""
        rows = self._db.execute(f"SELECT record FROM tasks {_BY_CREATION}")
        return [json.loads(record) for (record,) in rows]

    def task_ids(self) -> list[str]:
        """Every task id ever stored: a restarted orchestrator must not hand them out again."""
        return [task_id for (task_id,) in self._db.execute("SELECT id FROM tasks")]

    def task(self, task_id: str) -> dict[str, Any] | None:
        """The latest record of ``task_id``, or None if it was never saved."""
        row = self._db.execute("SELECT record FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def history(self, task_id: str) -> list[tuple[float, str, str]]:
        """``(at, state, reason)`` for each state the task entered, in order."""
        return list(self._db.execute(
            "SELECT at, state, reason FROM task_history WHERE task_id = ? ORDER BY rowid",
            (task_id,)))

    def audit(self, task_id: str | None = None, robot_id: str | None = None,
              since: float | None = None) -> list[Audited]:
        """Audit entries in the order they were written, narrowed by any filter given
        (``since`` is inclusive)."""
        where, args = [], []
        for column, value, op in (("task_id", task_id, "="), ("robot_id", robot_id, "="),
                                  ("at", since, ">=")):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            "SELECT at, actor, action, task_id, robot_id, detail FROM audit "
            f"{clause} ORDER BY seq", args)
        return [Audited(at=at, actor=actor, action=action, task_id=tid, robot_id=rid,
                        detail=json.loads(detail))
                for at, actor, action, tid, rid, detail in rows]

    def marks(self) -> dict[str, float]:
        """Schedule name -> the time up to which it has already created its work."""
        return dict(self._db.execute("SELECT name, until FROM schedule_marks"))

    def core_state(self) -> dict[str, Any]:
        """What the core keeps besides tasks (closures ...), as it last saved it."""
        if "core_state" not in self._tables():       # a version-1 store opened read-only
            return {}
        return {key: json.loads(value)
                for key, value in self._db.execute("SELECT key, value FROM core_state")}

    def open_alerts(self) -> list[dict[str, Any]]:
        """Alerts not yet resolved, oldest first: what a restarted core must keep."""
        return self.alerts(open_only=True)

    def alerts(self, *, open_only: bool = False, since: float | None = None) -> list[dict[str, Any]]:
        """Stored alert records, oldest first (``since``: raised at or after)."""
        if "alerts" not in self._tables():
            return []
        where, args = [], []
        if open_only:
            where.append("state != 'resolved'")
        if since is not None:
            where.append("raised_at >= ?")
            args.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(f"SELECT record FROM alerts {clause} ORDER BY raised_at, id", args)
        return [json.loads(record) for (record,) in rows]

    def integrity(self) -> str:
        """SQLite's full ``integrity_check``: ``"ok"`` or the first problem found."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- lifetime -----------------------------------------------------------
    def close(self) -> None:
        """Close the connection and give up the writer lock; committed writes are on disk."""
        self._db.close()
        self._unlock()

    def __enter__(self) -> TaskStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _json(value: Any) -> str:
    """Strict JSON: NaN/Infinity are not JSON and would not read back elsewhere."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def sql_statements(script: str) -> list[str]:
    """Split the schema into statements; ``executescript`` would COMMIT our transaction."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements
