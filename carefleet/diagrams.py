"""``carefleet diagram MACHINE``: draw a state machine from its transition data (Graphviz dot).

The diagrams come from the same module-level data the machines are built from, so a
picture can never drift from the code. Pipe into ``dot -Tpng`` to see it.
"""

from __future__ import annotations

import argparse

from carefleet.robots.lifecycle import robot_diagram
from carefleet.tasks.model import lifecycle_diagram
from carefleet.tasks.requests import TASK_TYPES

MACHINES = {"robot": robot_diagram, "task": lifecycle_diagram,
            **{kind: cls.step_diagram for kind, cls in TASK_TYPES.items()}}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagram", help="print a state machine as Graphviz dot",
        description="Print a state machine (robot lifecycle, task lifecycle, or a task "
                    "type's steps) as Graphviz dot, e.g. `carefleet diagram meal_delivery | dot -Tpng > m.png`.")
    parser.add_argument("machine", choices=sorted(MACHINES))
    parser.set_defaults(func=show)


def show(args: argparse.Namespace) -> int:
    print(MACHINES[args.machine](), end="")
    return 0
