"""``carefleet site check SITE.yaml``: validate a site file and summarise it.

Exit codes: 0 the site file is valid; 2 it is not (one line naming the file, line and
field, printed by ``carefleet.cli``).
"""

from __future__ import annotations

import argparse
import textwrap

from carefleet.maps.model import PlaceKind
from carefleet.orchestrator.schedules import MealService, PatrolSchedule, Schedule
from carefleet.service.site import Site, load_site, resolve_driver, shown_url, site_path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``site check`` to the ``carefleet`` command."""
    parser = subparsers.add_parser("site", help="check a live ward's site file")
    commands = parser.add_subparsers(dest="site_command", metavar="ACTION", required=True)
    check = commands.add_parser(
        "check", help="validate a site file and summarise it",
        description="Validate a site file (see README, 'Site file format') without starting "
                    "anything; exit 2 with one line naming the file, line and field on a mistake.")
    check.add_argument("site", metavar="SITE.yaml",
                       help="a site file, or a bundled site's name (demo_site)")
    check.add_argument("--drivers", action="store_true",
                       help="also import every robot's driver class (needs the vendors' packages)")
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    site = load_site(site_path(args.site))
    if args.drivers:
        for spec in site.drivers.values():
            resolve_driver(spec)
    print(textwrap.fill(summary(site), width=88, break_long_words=False, break_on_hyphens=False))
    return 0


def summary(site: Site) -> str:
    """One paragraph: the ward, robots and their drivers, schedules, cameras, store."""
    rooms = len(site.ward.places_of_kind(PlaceKind.RESIDENT_ROOM))
    robots = ", ".join(f"{spec.id} ({spec.profile.model}, {site.drivers[spec.id].target})"
                       for spec in site.robots)
    schedules = ", ".join(_schedule(s) for s in site.schedules) or "none"
    cameras = ", ".join(f"{c.id} -> {c.room} ({shown_url(c.url)})" for c in site.cameras) or "none"
    ack = ", ".join(f"{p} {_span(t)}" for p, t in site.alerts.acknowledge_within.items())
    return (f"{site.source}: site '{site.name}' is valid. Ward '{site.ward.name}' "
            f"({site.ward_file}, {rooms} resident rooms). {_count(site.robots, 'robot')}: "
            f"{robots}. {_count(site.schedules, 'schedule')}: {schedules}. "
            f"{_count(site.cameras, 'camera')}: {cameras}. Store {site.store}; language "
            f"{site.language}; listening on {_address(site)}; alerts go to "
            f"{' -> '.join(site.alerts.tiers)} (acknowledge within {ack}); staff tokens "
            f"last {_span(site.token_ttl)}.")


def _schedule(schedule: Schedule) -> str:
    if isinstance(schedule, MealService):
        return f"{schedule.name} (meals at {schedule.at:%H:%M})"
    if isinstance(schedule, PatrolSchedule):
        until = (f"{schedule.rounds} round{'s' * (schedule.rounds != 1)}" if schedule.rounds
                 else f"to {schedule.end:%H:%M}")
        return f"{schedule.name} (patrol from {schedule.start:%H:%M}, {until})"
    return schedule.name


def _span(seconds: float) -> str:
    """60 -> ``60s``, 180 -> ``3m``, 28800 -> ``8h``, 5400 -> ``90m``."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _count(items: tuple, noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) != 1)}"


def _address(site: Site) -> str:
    host = f"[{site.listen_host}]" if ":" in site.listen_host else site.listen_host
    return f"http://{host}:{site.listen_port}"
