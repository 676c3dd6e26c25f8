"""How fast the simulator plays the bundled demo day (simulated seconds per wall second).

Prints figures only; nothing here is asserted (this machine is noisy).
Run: .venv/bin/python bench/sim_speed.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
