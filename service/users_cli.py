"""``carefleet users ...``: staff accounts and machine tokens, from the host's shell.

This is how the first admin comes to exist (there is no default account), so it works
on a store the service has never opened, and while the service runs (it shares the
file, not the orchestrator's lock). Every command names the store either directly
(``--store FILE``) or through the site file the service itself reads (``SITE.yaml``).

Passwords are never arguments (they would sit in shell history and ``ps``): they come
from standard input, one line, so scripts can pipe them; at a terminal they are asked
twice without echo. A machine token is printed once, alone on stdout, so it can be
piped straight into a robot's configuration.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path

from carefleet.errors import InputError
from carefleet.service.accounts import MACHINE_ROLES, STAFF_ROLES, Accounts, check_password_rules

EXIT_OK = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``users add|list|disable|enable|remove|passwd|token|revoke``."""
    parser = subparsers.add_parser(
        "users", help="staff accounts and robot/device tokens of the ward service")
    commands = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True,
                                     parser_class=_IntermixedParser)

    add = commands.add_parser("add", help="add a staff account (password on stdin)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, metavar="ROLE",
                     help=f"one of {', '.join(STAFF_ROLES)}")
    _store_arguments(add)
    add.set_defaults(func=add_command)

    listing = commands.add_parser("list", help="list accounts and machine tokens")
    _store_arguments(listing)
    listing.set_defaults(func=list_command)

    for name, func, text in (
            ("disable", disable_command, "refuse a user's logins and end its sessions"),
            ("enable", enable_command, "allow a disabled user to log in again"),
            ("remove", remove_command, "delete a staff account"),
            ("passwd", passwd_command, "set a new password (stdin) and end its sessions")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("name", metavar="NAME")
        _store_arguments(sub)
        sub.set_defaults(func=func)

    token = commands.add_parser("token", help="make a robot or device token (printed once)")
    token.add_argument("subject", metavar="SUBJECT", help="e.g. robot:tray_1 or tray_1")
    token.add_argument("--role", required=True, metavar="ROLE",
                       help=f"one of {', '.join(MACHINE_ROLES)}")
    _store_arguments(token)
    token.set_defaults(func=token_command)

    revoke = commands.add_parser("revoke", help="revoke a robot's or device's tokens")
    revoke.add_argument("subject", metavar="SUBJECT")
    revoke.add_argument("--id", type=int, dest="token_id", metavar="N",
                        help="only the token with this id (see `users list`)")
    _store_arguments(revoke)
    revoke.set_defaults(func=revoke_command)


class _IntermixedParser(argparse.ArgumentParser):
    """Lets ``SITE.yaml`` follow the options (``users add anna --role nurse site.yaml``).

    Python 3.11's argparse fills an optional positional (empty) as soon as it meets the
    first positional, so a later ``SITE.yaml`` would be "unrecognized"; intermixed
    parsing reads every positional wherever it stands.
    """

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        if self._inside:                # parse_known_intermixed_args calls us back
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("site", nargs="?", metavar="SITE.yaml",
                        help="the service's site file (its store is used)")
    parser.add_argument("--store", metavar="FILE", help="the task store file itself")


def store_path(args: argparse.Namespace) -> Path:
    """The store named by ``--store FILE`` or by ``SITE.yaml``'s ``store``."""
    if args.store and args.site:
        raise InputError("users", "give either --store FILE or SITE.yaml, not both")
    if args.store:
        return Path(args.store)
    if not args.site:
        raise InputError("users", "which store? give --store FILE or SITE.yaml")
    try:
        # Late: the site module pulls in the service's configuration, not needed above.
        from carefleet.service.site import load_site
    except ModuleNotFoundError as missing:
        if missing.name != "carefleet.service.site":
            raise
        raise InputError(args.site, "this CareFleet cannot read site files yet; "
                                    "use --store FILE") from None
    return Path(load_site(args.site).store)


def read_password(name: str) -> str:
    """One line from stdin (scripts), or asked twice without echo (a terminal)."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        first = getpass.getpass(f"password for {name}: ")
        check_password_rules(first, f"user {name}")
        if getpass.getpass("again: ") != first:
            raise InputError(f"user {name}", "the two passwords differ")
        return first
    line = stdin.readline() if stdin is not None else ""
    return line.rstrip("\r\n")


def _open(args: argparse.Namespace) -> Accounts:
    return Accounts(store_path(args))


def add_command(args: argparse.Namespace) -> int:
    path = store_path(args)        # a bad store or site is reported before the password
    password = read_password(args.name)
    with Accounts(path) as accounts:
        user = accounts.add_user(args.name, args.role, password, time.time())
    print(f"{user.name}: added as {user.role} in {path}")
    return EXIT_OK


def list_command(args: argparse.Namespace) -> int:
    with _open(args) as accounts:
        users, tokens = accounts.list_users(), accounts.list_machine_tokens()
    if not users:
        print("no staff accounts yet (carefleet users add NAME --role admin ...)")
    else:
        print(f"{'NAME':<20} {'ROLE':<7} {'STATE':<9} LAST LOGIN")
        for user in users:
            state = "disabled" if user.disabled else "enabled"
            print(f"{user.name:<20} {user.role:<7} {state:<9} {_when(user.last_login_at)}")
    if tokens:
        print()
        print(f"{'TOKEN':<6} {'SUBJECT':<27} {'ROLE':<7} {'CREATED':<17} STATE")
        for token in tokens:
            state = "live" if token.revoked_at is None \
                else f"revoked {_when(token.revoked_at)}"
            print(f"{token.id:<6} {token.subject:<27} {token.role:<7} "
                  f"{_when(token.created_at):<17} {state}")
    return EXIT_OK


def _when(at: float | None) -> str:
    return "never" if at is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def disable_command(args: argparse.Namespace) -> int:
    with _open(args) as accounts:
        accounts.disable(args.name, time.time())
    print(f"{args.name}: disabled; its sessions have ended")
    return EXIT_OK


def enable_command(args: argparse.Namespace) -> int:
    with _open(args) as accounts:
        accounts.enable(args.name, time.time())
    print(f"{args.name}: enabled")
    return EXIT_OK


def remove_command(args: argparse.Namespace) -> int:
    with _open(args) as accounts:
        accounts.remove(args.name)
    print(f"{args.name}: removed")
    return EXIT_OK


def passwd_command(args: argparse.Namespace) -> int:
    path = store_path(args)
    with Accounts(path) as accounts:
        accounts.user(args.name)   # an unknown name fails before the password is asked
        accounts.set_password(args.name, read_password(args.name), time.time())
    print(f"{args.name}: password changed; its sessions have ended")
    return EXIT_OK


def token_command(args: argparse.Namespace) -> int:
    with _open(args) as accounts:
        token = accounts.add_machine_token(args.subject, args.role, time.time())
    print(token)
    print(f"carefleet: this {args.role} token is shown only once; put it in the "
          f"{args.role}'s configuration now", file=sys.stderr)
    return EXIT_OK


def revoke_command(args: argparse.Namespace) -> int:
    with _open(args) as accounts:
        count = accounts.revoke(args.subject, time.time(), token_id=args.token_id)
    print(f"{args.subject}: {count} token{'s' if count != 1 else ''} revoked")
    return EXIT_OK
