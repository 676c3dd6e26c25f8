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
from carefleet.errors import CareFleetError, CoreFault, StoreError

#: Packages whose ``cli.register`` adds sub-commands, in help order.
COMMAND_MODULES = (
    "carefleet.maps.cli",
    "carefleet.simulation.cli",
    "carefleet.vision.cli",
    "carefleet.service.cli",
    "carefleet.service.site_cli",
    "carefleet.service.users_cli",
    "carefleet.devices.cli",
    "carefleet.diagrams",
    "carefleet.ros.cli",
)

#: Exit codes, documented in the README: 1 is ``carefleet sim``'s "an expectation failed".
EXIT_BAD_INPUT = 2
EXIT_CORE_FAULT = 3      # a bug in the orchestrator core (please report it)
EXIT_STORE_FAILED = 4    # the store could not commit (disk full, read-only, held by another)


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
    except CoreFault as error:
        print(f"carefleet: core failure: {error}", file=sys.stderr)
        return EXIT_CORE_FAULT
    except StoreError as error:
        print(f"carefleet: store failure: {error}", file=sys.stderr)
        return EXIT_STORE_FAILED
    except CareFleetError as error:
        print(f"carefleet: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("carefleet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
