"""Crash tests with real processes: a host in a child process is killed with SIGKILL at
random moments and every task it acknowledged must still be on disk, exactly once, in
an intact store (``crash_child.py`` has the child and the checks; ``bench/host_crash.py``
runs the same loop a thousand times)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from crash_child import CrashLoop, inspect

KILLS = 5


def test_every_acknowledged_task_survives_sigkill_exactly_once(tmp_path: Path) -> None:
    loop = CrashLoop(str(tmp_path / "store.db"), seed=20250602)
    inflight = None
    for _ in range(KILLS):
        life, found = loop.kill_once()
        # The id in flight at the last kill is resubmitted first (committed or not).
        if inflight:
            assert life.acked[0] == inflight
        inflight = life.inflight
        assert found.lost == [] and found.duplicates == []
        assert found.integrity == "ok" and found.audit_problems == []
        assert found.not_resumed == [] and found.host_lost == []
        # While the child lived, a second writer (a bare store, a whole host) was
        # refused with the child's pid: the lock is what keeps two cores off one file.
        assert len(life.refusals) == 2
        for said in life.refusals:
            assert "already in use by another orchestrator" in said
            assert f"pid {life.pid} " in said
    assert len(loop.acked) > KILLS


def test_the_checks_see_a_lost_id_a_duplicate_and_a_changed_or_missing_audit_row(
        tmp_path: Path) -> None:
    """The crash test is only as good as its checks: break the store on purpose."""
    path = str(tmp_path / "store.db")
    loop = CrashLoop(path, seed=7, max_acks=3)
    _, found = loop.kill_once()
    assert found.clean
    ghost = inspect(path, loop.ward, loop.acked | {"never-stored"}, found.audit)
    assert ghost.lost == ["never-stored"]

    db = sqlite3.connect(path)
    acked = sorted(loop.acked)[0]
    db.execute("INSERT INTO audit (at, actor, action, task_id, detail) "
               "VALUES (0, 'x', 'task_submitted', ?, '{}')", (acked,))
    db.commit()
    twice = inspect(path, loop.ward, loop.acked, found.audit)
    assert twice.duplicates == [acked] and twice.audit_problems == []

    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 1")
    db.execute("DELETE FROM audit WHERE seq = 2")
    db.commit()
    db.close()
    tampered = inspect(path, loop.ward, loop.acked, found.audit)
    assert any("gaps" in p for p in tampered.audit_problems)
    assert any("changed" in p for p in tampered.audit_problems)
    assert not tampered.clean
