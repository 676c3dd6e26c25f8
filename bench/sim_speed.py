"""How fast the simulator plays the bundled demo day (simulated seconds per wall second),
and whether a long run slows down day by day (14 days of the demo ward's
schedules, no scripted events: finished tasks must leave memory, so day 14 must cost
what day 2 costs).

Prints figures only; nothing here is asserted (this machine is noisy).
Run: .venv/bin/python bench/sim_speed.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from dataclasses import replace

from carefleet.simulation.faultmix import base_day
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation

DEMO = Path(__file__).resolve().parent.parent / "simulation" / "scenarios" / "demo_day.yaml"


def main(runs: int = 5) -> None:
    scenario = load_scenario(DEMO)
    simulated = scenario.end - scenario.start
    walls = []
    for _ in range(runs):
        simulation = Simulation(scenario)
        started = time.perf_counter()
        simulation.run()
        walls.append(time.perf_counter() - started)
        simulation.close()
    median = statistics.median(walls)
    print(f"demo day ({simulated / 3600:.0f} h simulated, {len(scenario.robots)} robots), {runs} runs")
    print(f"  wall time per run: median {median:.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s")
    print(f"  speed: {simulated / median:,.0f} simulated seconds per wall second (median run)")
    days = 14
    base = base_day()
    ends: list[float] = []                  # wall time at the end of each simulated day

    def progress(fraction: float) -> None:
        if fraction * days >= len(ends) + 1 - 1e-9:
            ends.append(time.perf_counter() - started)
    simulation = Simulation(replace(base, end=base.start + days * 86400.0), progress=progress)
    started = time.perf_counter()
    simulation.run()
    simulation.close()
    per_day = [b - a for a, b in zip([0.0] + ends, ends)]
    print(f"{days} days of the demo ward's schedules (no scripted events), one run:")
    print("  wall s per simulated day: " + " ".join(f"{d:.2f}" for d in per_day))
    # Day 1 starts at midnight with no night patrol behind it, so day 2 is the first
    # full day; a run that slows down with age shows as a late day slower than day 2.
    print(f"  speed on day 2: {86400 / per_day[1]:,.0f}, on day {days}: "
          f"{86400 / per_day[-1]:,.0f} simulated s per wall s "
          f"(day {days} / day 2 cost: {per_day[-1] / per_day[1]:.2f})")

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
