"""Kill a real host with SIGKILL again and again: is every acknowledged task kept, once?

Runs the crash loop of ``tests/orchestrator/crash_child.py`` (the test runs a few
kills of it in ``make test``) on one store: a child process runs the host with two
instant robots and prints each task id once the store has committed it; the parent
kills it after a random number of acknowledgements, inspects the store (every
acknowledged id present exactly once, audit intact, ``PRAGMA integrity_check``, a
restarted host holding every unfinished one) and starts the next child on it.

Prints figures. Exits 1 only on a finding (an id lost or duplicated, a damaged store or
audit, a task not resumed, a second writer let in): that is a bug, not a slow machine.
Run: .venv/bin/python bench/host_crash.py [--kills N] [--seed S] [--store PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

CHILD = Path(__file__).resolve().parents[1] / "tests" / "orchestrator" / "crash_child.py"


def load_rig():
    """The test's crash rig, by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("crash_child", CHILD)
    module = importlib.util.module_from_spec(spec)       # type: ignore[arg-type]
    sys.modules["crash_child"] = module                  # dataclasses look themselves up
    spec.loader.exec_module(module)                      # type: ignore[union-attr]
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", help="store file (default: a fresh one in a temp folder)")
    args = parser.parse_args(argv)
    rig = load_rig()
    with tempfile.TemporaryDirectory() as tmp:
        loop = rig.CrashLoop(args.store or str(Path(tmp) / "store.db"), seed=args.seed)
        lost: set[str] = set()
        duplicates: set[str] = set()
        integrity = audit = unresumed = lock = resumed = 0
        started = time.perf_counter()
        for k in range(1, args.kills + 1):
            life, found = loop.kill_once()
            lost.update(found.lost)
            duplicates.update(found.duplicates)
            integrity += found.integrity != "ok"
            audit += bool(found.audit_problems)
            unresumed += bool(found.not_resumed or found.host_lost)
            lock += not all(f"pid {life.pid} " in said for said in life.refusals)
            resumed += found.resumed
            if k % 50 == 0 or k == args.kills:
                print(f"kills {k}/{args.kills}: acknowledged {len(loop.acked)}, lost {len(lost)}, "
                      f"duplicates {len(duplicates)}, integrity failures {integrity}, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
        wall = time.perf_counter() - started
        retried_committed = sum(1 for row in loop.audit if row[3] == "duplicate_submission")
    print(f"host crash: {loop.kills} SIGKILLs, {len(loop.acked)} acknowledged ids, "
          f"lost {len(lost)}, duplicates {len(duplicates)}, integrity failures {integrity}, "
          f"audit failures {audit}, not resumed {unresumed}, second writer let in {lock}; "
          f"{resumed} acknowledged tasks were open at a kill and resumed, "
          f"{retried_committed} of {loop.kills - 1} in-flight resubmissions had already "
          f"committed; {wall:.1f} s wall, {loop.kills / wall * 60:.0f} kills/min")
    if lost or duplicates:
        print(f"FINDING: lost {sorted(lost)[:10]}, duplicated {sorted(duplicates)[:10]}")
    return 1 if (lost or duplicates or integrity or audit or unresumed or lock) else 0


if __name__ == "__main__":
    sys.exit(main())
