"""Kill the live service with SIGKILL again and again: is every acknowledged task kept, once?

Runs the crash loop of ``tests/service/test_service_crash.py`` (the test runs three kills
of it in ``make test``) on one store: a real ``carefleet serve --demo`` process, one
staff client whose submitter thread posts ``go_to`` tasks back to back over HTTP, a
SIGKILL after a random number of 201s (seeded), a new process on the same store. After
each restart the client logs in again, resubmits the id the kill cut off (201 if it had
not been stored, 200 if it had), and checks over HTTP that every acknowledged id is
listed once and that a sample of them (all of them after the last restart) is there
with one submission and answers 200 to a resubmission. At the end the store is opened
read-only: every acknowledged id once, one ``task_submitted`` audit row each,
``PRAGMA integrity_check``.

Prints progress and a summary. Exits 1 only on a finding (an id lost, duplicated or
stored without an acknowledgement, a resubmission made a new task, a damaged store or
audit): that is a bug, not a slow machine.
Run: .venv/bin/python bench/service_crash.py [--kills N] [--seed S] [--check K]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests" / "service"


def load(name: str, path: Path):
    """A test module by path, under a name of its own (tests/ is not a package, and
    several test folders have a ``conftest``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)       # type: ignore[arg-type]
    sys.modules[name] = module                           # dataclasses look themselves up
    spec.loader.exec_module(module)                      # type: ignore[union-attr]
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-acks", type=int, default=12,
                        help="a kill comes after 1 to this many 201s (default 12)")
    parser.add_argument("--check", type=int, default=25,
                        help="earlier ids checked one by one after each restart (default 25)")
    parser.add_argument("--store", help="store file (default: a fresh one in a temp folder)")
    args = parser.parse_args(argv)
    served_rig = load("service_conftest", TESTS / "conftest.py")
    rig = load("service_crash_rig", TESTS / "test_service_crash.py")
    running = []

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or Path(tmp) / "ward.db")
        served_rig.add_user(store, rig.STAFF, "nurse")

        def start():
            served = served_rig.start_serve(store, "--demo")
            running.append(served)
            return served

        loop = rig.ServiceCrashLoop(store, start, seed=args.seed, max_acks=args.max_acks)
        found = rig.Findings()
        started = time.perf_counter()
        try:
            for k in range(1, args.kills + 1):
                life = loop.life(check=args.check)
                found.add(life.checked)
                if k % 10 == 0 or k == args.kills or not life.checked.clean:
                    print(f"kills {k}/{args.kills}: acknowledged {len(loop.acked)}, "
                          f"lost {len(set(found.lost))}, duplicates {len(set(found.duplicates))}, "
                          f"renewed {len(found.renewed)}, {time.perf_counter() - started:.0f} s",
                          flush=True)
            final = loop.life(kill=False)              # every id, one by one
            found.add(final.checked)
            final.served.stop()
            found.add(loop.inspect_store())
        finally:
            for served in running:
                served.stop()
        wall = time.perf_counter() - started
    lost, duplicates = sorted(set(found.lost)), sorted(set(found.duplicates))
    print(f"service crash: {loop.kills} SIGKILLs, {len(loop.acked)} acknowledged ids, "
          f"lost {len(lost)}, duplicates {len(duplicates)}, "
          f"phantoms {len(set(found.phantoms))}, resubmissions not answered 200 "
          f"{len(found.renewed)}, other wrong answers {len(found.unexpected)}, "
          f"integrity {found.integrity}, audit problems {len(found.audit_problems)}; "
          f"{loop.retries_committed} of {sum(loop.cut.values())} cut-off requests had "
          f"already been stored (their retry answered 200); {wall:.1f} s wall, "
          f"{loop.kills / wall * 60:.0f} kills/min")
    if not found.clean:
        print(f"FINDING: lost {lost[:10]}, duplicated {duplicates[:10]}, "
              f"phantoms {sorted(set(found.phantoms))[:10]}, renewed {found.renewed[:5]}, "
              f"unexpected {found.unexpected[:5]}, audit {found.audit_problems[:5]}, "
              f"integrity {found.integrity}")
    return 0 if found.clean else 1


if __name__ == "__main__":
    sys.exit(main())
