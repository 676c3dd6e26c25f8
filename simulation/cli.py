"""``carefleet sim``: run a scenario, show progress, print KPIs, write reports, judge.

Exit codes: 0 every expectation met; 1 an expectation failed (each failing one is
named on stderr); 2 bad input (a broken scenario or ward, one line naming it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any, TextIO

from carefleet.messages import DEFAULT_LANGUAGE, LANGUAGES
from carefleet.simulation.kpi import compute_kpis, format_kpi_table
from carefleet.simulation.report import overall_passed, words, write_html, write_json
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation

EXIT_EXPECTATION_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim", help="run a simulated ward scenario and judge it",
        description="Run a scenario (see README, 'Scenario format') faster than real time.")
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--report", metavar="FILE.html", help="write an HTML report with a timeline")
    parser.add_argument("--json", metavar="FILE", help="write the figures and outcomes as JSON")
    parser.add_argument("--db", metavar="FILE",
                        help="keep the task store (SQLite) here instead of a temporary file")
    parser.add_argument("--seed", type=int, help="override the scenario's random seed")
    parser.add_argument("--language", default=DEFAULT_LANGUAGE, choices=LANGUAGES,
                        help="language of the figures, the report and its staff notifications "
                             "(default: en)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    bar = None if args.quiet else ProgressBar(sys.stderr, scenario.name)
    simulation = Simulation(scenario, db_path=args.db, progress=bar, language=args.language)
    try:
        result = simulation.run()
    finally:
        simulation.close()
    if bar:
        bar.done(result.wall_seconds, result.end - result.start)
    return judge(scenario, result, report=args.report, json_file=args.json,
                 language=args.language)


def judge(scenario: Any, result: Any, *, report: str | None, json_file: str | None,
          how: str = "", language: str = DEFAULT_LANGUAGE) -> int:
    """Print the KPI table and every verdict, write the reports, and give the exit
    code: the same for every runtime that plays a scenario (``carefleet ros sim`` too)."""
    say = words(language)
    kpis = compute_kpis(result, on_time_window=scenario.on_time_window)
    verdicts = [(e.name, *e.judge(kpis.get(e.kpi), language)) for e in scenario.expectations]
    print(f"{scenario.name}: {scenario.ward.name}, {len(scenario.robots)} robots, "
          f"seed {scenario.seed}{how}")
    print(format_kpi_table(kpis, language))
    for happening in result.happenings:
        if happening.kind == "rejected":
            print(f"carefleet: warning: scenario step refused: {happening.text}", file=sys.stderr)
    for name, passed, detail in verdicts:
        print(f"{say('pass' if passed else 'fail')}  {name}  ({detail})")
    if report:
        print(f"report: {write_html(result, kpis, verdicts, report, language=language, on_time_window=scenario.on_time_window)}")
    if json_file:
        print(f"json: {write_json(result, kpis, verdicts, json_file)}")
    if not overall_passed(verdicts):
        failed = [name for name, passed, _ in verdicts if not passed]
        print(f"carefleet: expectation failed: {'; '.join(failed)}", file=sys.stderr)
        return EXIT_EXPECTATION_FAILED
    return 0


class ProgressBar:
    """A one-line progress bar on a terminal (plain periodic lines when not a terminal)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, title: str) -> None:
        self.stream, self.title = stream, title
        self.tty = stream.isatty()
        self._last_tenth = -1

    def __call__(self, fraction: float) -> None:
        filled = int(fraction * self.WIDTH)
        if self.tty:
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.title} [{bar}] {fraction:4.0%}")
            self.stream.flush()
        elif int(fraction * 10) > self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self.stream.write(f"{self.title}: {fraction:.0%} simulated\n")

    def done(self, wall: float, simulated: float) -> None:
        speed = simulated / wall if wall > 0 else float("inf")
        end = "\n" if self.tty else ""
        self.stream.write(f"{end}{self.title}: {simulated / 3600:.1f} h simulated in "
                          f"{wall:.2f} s ({speed:,.0f}x real time)\n")
