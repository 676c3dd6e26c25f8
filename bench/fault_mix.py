"""Long fault-mix sweep: generated days with every fault kind and 1-3 restarts, every
promise checked after every step (``simulation/faultmix.py``). Prints the survivors
and each broken promise with its seed; asserts nothing (exit 1 only if one broke).

    .venv/bin/python bench/fault_mix.py [--days 300] [--first 1000]
"""

from __future__ import annotations

import argparse
import sys
import time

from carefleet.simulation.faultmix import base_day, run_fault_day


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=300)
    parser.add_argument("--first", type=int, default=1000, help="first seed (the suite uses 0-23)")
    args = parser.parse_args()
    base = base_day()
    broken: list[str] = []
    started = time.perf_counter()
    for n, seed in enumerate(range(args.first, args.first + args.days), 1):
        try:
            run_fault_day(seed, base=base)
        except Exception as error:           # a finding: report it and go on
            broken.append(f"seed {seed}: {type(error).__name__}: {error}")
        if n % 25 == 0 or n == args.days:
            print(f"{n}/{args.days} days, {len(broken)} broken, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    wall = time.perf_counter() - started
    print(f"fault mix: {args.days - len(broken)} of {args.days} generated days kept every "
          f"promise ({wall:.0f} s, {wall / args.days:.2f} s per day)")
    for line in broken:
        print("  " + line)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
