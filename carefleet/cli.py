"""The ``carefleet`` command.

Each package contributes its own sub-commands through a ``register(subparsers)``
function in its ``cli`` module; this module only wires them together and turns every
``CareFleetError`` into one line on stderr and a non-zero exit (never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from carefleet import __version__
from carefleet.errors import CareFleetError

#: Packages whose ``cli.register`` adds sub-commands, in help order.
COMMAND_MODULES = (
    "carefleet.maps.cli",
    "carefleet.simulation.cli",
    "carefleet.vision.cli",
    "carefleet.diagrams",
)

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carefleet",
        description="Orchestrate care-home robots and ward devices.")
    parser.add_argument("--version", action="version", version=f"carefleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:  # a real import error inside the module
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CareFleetError as error:
        print(f"carefleet: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("carefleet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
