"""Staff accounts, machine tokens and authentication for ``carefleet serve``.

Nothing here imports the web framework: the HTTP app, the ``carefleet users`` command
and the tests all drive the same ``Accounts`` object, and the app only maps
``AuthError`` to 401, ``LoginThrottle.check`` to 429 + Retry-After and ``allowed`` to 403.

Where the data lives, and why: accounts sit in the task store's own SQLite file, so a
care home backs up (and moves) one file. The orchestrator's ``TaskStore`` holds the
one-writer flock on ``<store>.lock``; that lock is about *tasks* (one orchestrator
deciding), not about the file, so this module deliberately does not take it: it opens
its own connection (``timeout=5`` so it waits for the orchestrator's short writes rather
than failing) and keeps every write to one short ``BEGIN IMMEDIATE`` transaction, so it
never holds up the orchestrator for long either.

Time is always an argument (``now``), never read here, so tests step through expiry and
lock-outs instantly and the service passes its own clock.

Secrets at rest: passwords are stored as scrypt hashes (memory-hard, salted, parameters
kept with the hash so they can be raised later); machine tokens as SHA-256 digests
(they are 256 random bits, so a slow KDF would add cost per robot request and no
safety); the HMAC key that signs staff tokens is random, made on first use and kept in
``service_secrets``. There is no default account and no default password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Literal

from carefleet.errors import CareFleetError, InputError, StoreError
# The store's own schema, so that a file created here is one TaskStore accepts later
# (a file with tables but no ``carefleet_schema`` would be refused by it).
from carefleet.orchestrator.store import create_schema, sql_statements, transaction

# -- roles and actions ---------------------------------------------------------

STAFF_ROLES = ("admin", "nurse", "viewer")
"""Roles of people, who log in with a password."""
MACHINE_ROLES = ("robot", "device")
"""Roles of machines, which present a long-lived token made by an admin."""
ROLES = STAFF_ROLES + MACHINE_ROLES

ACTIONS = ("read", "submit_task", "cancel_task", "ack_alert", "resolve_alert",
           "pause_robot", "edit_schedules", "manage_users", "manage_devices", "robot_report",
           "device_event")
"""Everything the API distinguishes; each endpoint names exactly one of these."""

_NURSE = frozenset({"read", "submit_task", "cancel_task", "ack_alert", "resolve_alert",
                    "pause_robot", "edit_schedules"})
PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType({
    "admin": _NURSE | {"manage_users", "manage_devices"},
    "nurse": _NURSE,
    "viewer": frozenset({"read"}),
    "robot": frozenset({"robot_report", "read"}),
    "device": frozenset({"device_event"}),
})
"""Role -> allowed actions. Kept as data so the table can be printed, reviewed and
tested as a whole instead of being spread over ``if`` statements in endpoints."""


def allowed(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action``.

    An unknown role is simply denied (it can only come from a bug or an old token). An
    unknown action raises ``ValueError``: a misspelt action in an endpoint must fail
    loudly in the tests, not silently deny (or allow) in production.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    return action in PERMISSIONS.get(role, frozenset())


# -- principals and errors -------------------------------------------------------

Kind = Literal["user", "machine"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a staff user (``kind="user"``) or a machine (``kind="machine"``,
    ``name`` is its subject such as ``robot:tray_1``)."""

    name: str
    role: str
    kind: Kind

    def can(self, action: str) -> bool:
        """``allowed(self.role, action)``."""
        return allowed(self.role, action)


class AuthError(CareFleetError):
    """Authentication refused. ``reason`` is ``"invalid"`` (wrong password, unknown or
    disabled user, tampered or revoked token) or ``"expired"``; the message is for logs
    and never tells an unknown user from a wrong password."""

    def __init__(self, reason: Literal["invalid", "expired"], message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An account as the API and ``users list`` show it: no hash, no token secrets."""

    name: str
    role: str
    disabled: bool
    created_at: float
    updated_at: float
    last_login_at: float | None


@dataclass(frozen=True, slots=True)
class MachineTokenInfo:
    """A machine token as listed: its id and subject, never the token or its hash."""

    id: int
    subject: str
    role: str
    created_at: float
    revoked_at: float | None


# -- password hashing ------------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024   # scrypt pre-hashes any length; the cap only bounds request size
_SCRYPT_MAXMEM = 64 * 1024 * 1024  # n=2**14, r=8 needs 16 MiB; OpenSSL's default is 32


def check_password_rules(password: str, who: str = "password") -> None:
    """Refuse empty and short passwords with one line (``InputError``)."""
    if not password:
        raise InputError(who, "password is empty (give at least 8 characters)")
    if len(password) < MIN_PASSWORD:
        raise InputError(who, f"password is too short ({len(password)} characters, "
                              f"at least {MIN_PASSWORD})")
    if len(password) > MAX_PASSWORD:
        raise InputError(who, f"password is too long (at most {MAX_PASSWORD} characters)")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` (base64url): the parameters travel with the hash so a
    later release can raise them and still check old hashes."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a ``hash_password`` string; a malformed hash is
    a mismatch (never an exception an attacker could tell apart)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          dklen=dklen, maxmem=_SCRYPT_MAXMEM)


_dummy_hash: str | None = None


def _burn_time(password: str) -> None:
    """Do one scrypt for an unknown user, so timing does not reveal which names exist."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-real-password")
    check_password(password, _dummy_hash)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- names -----------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""User names and machine ids: no ``:`` so a user can never pose as ``robot:x``."""

DEFAULT_TTL = 8 * 3600
"""A staff token lasts one shift."""
MACHINE_TOKEN_PREFIX = "cfm_"
"""Machine tokens start with this (staff tokens never do), which tells ``verify`` which
kind it holds and lets secret scanners recognise a leaked one."""
_MAX_TOKEN = 4096


def check_name(name: str) -> str:
    """A user name: letters, digits, ``.``, ``_``, ``-``; up to 64; starts alphanumeric."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"user {name}", "a user name is 1-64 letters, digits, '.', '_' "
                                         "or '-', starting with a letter or digit")
    return name


def machine_subject(subject: str, role: str) -> str:
    """``tray_1`` + ``robot`` -> ``robot:tray_1``; ``robot:tray_1`` must match its role,
    so a device token can never speak as a robot."""
    if role not in MACHINE_ROLES:
        raise InputError(f"token {subject}", f"role must be one of {', '.join(MACHINE_ROLES)}"
                                             f" for a machine token, not {role!r}")
    kind, sep, ident = subject.partition(":")
    if not sep:
        kind, ident = role, subject
    if kind != role:
        raise InputError(f"token {subject}", f"subject says '{kind}' but the role is '{role}'")
    if not _NAME.fullmatch(ident):
        raise InputError(f"token {subject}", f"expected {role}:ID with an ID of letters, "
                                             "digits, '.', '_' or '-'")
    return f"{role}:{ident}"


# -- the accounts store ------------------------------------------------------------

_TABLES = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'nurse', 'viewer')),
    password_hash TEXT NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    token_version INTEGER NOT NULL DEFAULT 1,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_login_at REAL
);
CREATE TABLE IF NOT EXISTS machine_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('robot', 'device')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS machine_tokens_by_subject ON machine_tokens (subject);
CREATE TABLE IF NOT EXISTS service_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""
_TOKEN_KEY = "token_hmac_key"


class Accounts:
    """Accounts and tokens in the task store file at ``path`` (created if missing).

    One connection for the object's lifetime, shared by threads under a lock (the app
    may call from a thread pool); scrypt runs outside that lock so one login does not
    stall every other request's token check.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._key: bytes | None = None
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise InputError(self.path, f"cannot open task store: {exc}") from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InputError(self.path, f"not a readable CareFleet task store: {exc}") from None
        except CareFleetError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        """Refuse a foreign SQLite file untouched; otherwise WAL on, tables in place.

        A file with no tables at all gets the task store's schema too (in the same
        transaction), because TaskStore refuses a file that has tables but not its own.
        """
        if self._tables() and "carefleet_schema" not in self._tables():
            raise InputError(self.path, "an SQLite file but not a CareFleet task store "
                                        f"(tables: {', '.join(sorted(self._tables()))})")
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise InputError(self.path, f"cannot use WAL journaling here (got '{mode}')")
        # Per connection: an added account or a revoked token survives a power cut.
        self._db.execute("PRAGMA synchronous=FULL")
        with self._write():
            tables = self._tables()          # again, inside the lock: a racing creator
            if not tables:
                create_schema(self._db)
            elif "carefleet_schema" not in tables:
                raise InputError(self.path, "an SQLite file but not a CareFleet task store")
            for statement in sql_statements(_TABLES):
                self._db.execute(statement)

    def _tables(self) -> set[str]:
        return {name for (name,) in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short ``BEGIN IMMEDIATE`` transaction: all of it or none of it."""
        with self._lock, transaction(self._db, self.path) as db:
            yield db

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: could not read: {exc}") from None

    # -- users --------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str, now: float) -> UserInfo:
        """Create a staff account; refuses a taken name (case-insensitively), an unknown
        role and a short password, each as one ``InputError`` line."""
        check_name(name)
        _check_staff_role(name, role)
        check_password_rules(password, f"user {name}")
        password_hash = hash_password(password)
        with self._write() as db:
            if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise InputError(f"user {name}", "already exists")
            db.execute("INSERT INTO accounts (name, role, password_hash, uid, created_at, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (name, role, password_hash, secrets.token_hex(16), now, now))
        return self.user(name)

    def set_password(self, name: str, password: str, now: float) -> None:
        """New password; every token issued before is invalid from now on."""
        check_password_rules(password, f"user {name}")
        password_hash = hash_password(password)
        self._update(name, now, "password_hash = ?", (password_hash,))

    def set_role(self, name: str, role: str, now: float) -> None:
        """New role; old tokens (which carry the old role) stop working."""
        _check_staff_role(name, role)
        self._update(name, now, "role = ?", (role,))

    def disable(self, name: str, now: float) -> None:
        """Refuse the user's logins and tokens, keeping the account (and its history)."""
        self._update(name, now, "disabled = 1", ())

    def enable(self, name: str, now: float) -> None:
        """Allow logins again; tokens from before the disable stay dead."""
        self._update(name, now, "disabled = 0", ())

    def _update(self, name: str, now: float, assignment: str, args: tuple[Any, ...]) -> None:
        # Every change bumps token_version: a stolen token dies with any admin action.
        with self._write() as db:
            cursor = db.execute(f"UPDATE accounts SET {assignment}, updated_at = ?, "
                                "token_version = token_version + 1 WHERE name = ?",
                                args + (now, name))
            if cursor.rowcount != 1:
                raise InputError(f"user {name}", "no such user")

    def remove(self, name: str) -> None:
        """Delete the account. Its tokens die with it, and stay dead if the name is
        reused: tokens carry the account's random ``uid``, not just its name."""
        with self._write() as db:
            if db.execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount != 1:
                raise InputError(f"user {name}", "no such user")

    def user(self, name: str) -> UserInfo:
        """One account, without its hash."""
        rows = self._read("SELECT name, role, disabled, created_at, updated_at, "
                          "last_login_at FROM accounts WHERE name = ?", (name,))
        if not rows:
            raise InputError(f"user {name}", "no such user")
        return _user_info(rows[0])

    def list_users(self) -> list[UserInfo]:
        """Every account by name, without hashes."""
        return [_user_info(row) for row in self._read(
            "SELECT name, role, disabled, created_at, updated_at, last_login_at "
            "FROM accounts ORDER BY name")]

    # -- logging in and staff tokens ---------------------------------------------
    def authenticate(self, name: str, password: str, now: float) -> Principal:
        """Check a password; ``AuthError("invalid")`` for an unknown, disabled or wrong
        one, all with the same message and (for unknown names) a scrypt's worth of time.

        Throttling is the caller's (``LoginThrottle``): it needs the client address,
        which this layer does not see.
        """
        rows = self._read("SELECT name, role, password_hash, disabled FROM accounts "
                          "WHERE name = ?", (name,)) if isinstance(name, str) else []
        if not rows:
            _burn_time(password)
            raise AuthError("invalid", "wrong user name or password")
        stored_name, role, password_hash, disabled = rows[0]
        if not check_password(password, password_hash) or disabled:
            raise AuthError("invalid", "wrong user name or password")
        with self._write() as db:
            db.execute("UPDATE accounts SET last_login_at = ? WHERE name = ?", (now, name))
        return Principal(stored_name, role, "user")

    def issue_token(self, user: str | Principal, now: float, ttl: float = DEFAULT_TTL) -> str:
        """A signed bearer token for an enabled user, valid until ``now + ttl``.

        Stateless: verification needs the key and one indexed row (to see disabling and
        password changes through ``token_version``), never a sessions table.
        """
        name = user.name if isinstance(user, Principal) else user
        if not ttl > 0:
            raise ValueError(f"ttl must be positive, got {ttl!r}")
        rows = self._read("SELECT name, role, uid, token_version, disabled FROM accounts "
                          "WHERE name = ?", (name,))
        if not rows or rows[0][4]:
            raise AuthError("invalid", f"user {name}: no such user or disabled")
        stored_name, role, uid, version, _ = rows[0]
        payload = {"sub": stored_name, "role": role, "uid": uid, "ver": version,
                   "iat": now, "exp": now + ttl}
        body = _b64(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def verify(self, token: str, now: float) -> Principal:
        """Who a bearer token belongs to: a staff token or a machine token.

        Raises ``AuthError("expired")`` only for a genuine token past its ``exp``;
        anything else wrong is ``AuthError("invalid")``. The signature is checked
        before the payload is even parsed.
        """
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN \
                or not token.isascii():
            raise AuthError("invalid", "malformed token")
        if token.startswith(MACHINE_TOKEN_PREFIX):
            return self._verify_machine(token)
        body, sep, mac = token.partition(".")
        try:
            mac_bytes = _unb64(mac)
        except (ValueError, binascii.Error):
            raise AuthError("invalid", "malformed token") from None
        if not sep or not hmac.compare_digest(mac_bytes, self._mac(body)):
            raise AuthError("invalid", "bad token signature")
        try:
            payload = json.loads(_unb64(body))
            name, role, uid, version, exp = (payload["sub"], payload["role"], payload["uid"],
                                             payload["ver"], float(payload["exp"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise AuthError("invalid", "malformed token payload") from None
        if now >= exp:
            raise AuthError("expired", f"token for {name} expired")
        rows = self._read("SELECT role, uid, token_version, disabled FROM accounts "
                          "WHERE name = ?", (name,))
        if not rows or tuple(rows[0]) != (role, uid, version, 0):
            raise AuthError("invalid", f"token for {name} is no longer valid")
        return Principal(name, role, "user")

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._token_key(), body.encode("ascii"), hashlib.sha256).digest()

    def _token_key(self) -> bytes:
        """The signing key, made on first use. ``INSERT OR IGNORE`` then read back: two
        processes making it at once agree on the one that was stored first."""
        if self._key is None:
            rows = self._read("SELECT value FROM service_secrets WHERE name = ?",
                              (_TOKEN_KEY,))
            if not rows:
                with self._write() as db:
                    db.execute("INSERT OR IGNORE INTO service_secrets (name, value) "
                               "VALUES (?, ?)", (_TOKEN_KEY, secrets.token_bytes(32)))
                rows = self._read("SELECT value FROM service_secrets WHERE name = ?",
                                  (_TOKEN_KEY,))
            self._key = bytes(rows[0][0])
        return self._key

    # -- machine tokens ----------------------------------------------------------
    def add_machine_token(self, subject: str, role: str, now: float) -> str:
        """A new long-lived token for a robot or a device; returned once, stored only
        as a digest. A subject may hold several (make the new one, deploy, revoke)."""
        subject = machine_subject(subject, role)
        token = MACHINE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as db:
            db.execute("INSERT INTO machine_tokens (subject, role, token_hash, created_at) "
                       "VALUES (?, ?, ?, ?)", (subject, role, _digest(token), now))
        return token

    def _verify_machine(self, token: str) -> Principal:
        rows = self._read("SELECT subject, role FROM machine_tokens "
                          "WHERE token_hash = ? AND revoked_at IS NULL", (_digest(token),))
        if not rows:
            raise AuthError("invalid", "unknown or revoked machine token")
        subject, role = rows[0]
        return Principal(subject, role, "machine")

    def list_machine_tokens(self) -> list[MachineTokenInfo]:
        """Every machine token ever made (revoked ones too), without secrets."""
        return [MachineTokenInfo(int(i), s, r, float(c), None if v is None else float(v))
                for i, s, r, c, v in self._read(
                    "SELECT id, subject, role, created_at, revoked_at FROM machine_tokens "
                    "ORDER BY subject, id")]

    def revoke(self, subject: str, now: float, *, token_id: int | None = None) -> int:
        """Revoke a subject's live tokens (or just ``token_id`` of them); returns how
        many. ``tray_1`` means any kind of machine called that; none found is an error,
        so a typo does not look like success."""
        if ":" in subject:
            subjects = [subject]
        else:
            subjects = [f"{role}:{subject}" for role in MACHINE_ROLES]
        marks = ", ".join("?" for _ in subjects)
        sql = (f"UPDATE machine_tokens SET revoked_at = ? WHERE subject IN ({marks}) "
               "AND revoked_at IS NULL")
        args: tuple[Any, ...] = (now, *subjects)
        if token_id is not None:
            sql += " AND id = ?"
            args += (token_id,)
        with self._write() as db:
            count = db.execute(sql, args).rowcount
            if count == 0:
                raise InputError(f"token {subject}", "no live machine token to revoke")
        return count

    # -- lifetime -----------------------------------------------------------
    def close(self) -> None:
        """Close the connection (committed changes are already on disk)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _check_staff_role(name: str, role: str) -> None:
    if role not in STAFF_ROLES:
        hint = " (machine roles get a token: carefleet users token)" \
            if role in MACHINE_ROLES else ""
        raise InputError(f"user {name}", f"role must be one of {', '.join(STAFF_ROLES)}, "
                                         f"not {role!r}{hint}")


def _user_info(row: tuple[Any, ...]) -> UserInfo:
    name, role, disabled, created, updated, last_login = row
    return UserInfo(name, role, bool(disabled), float(created), float(updated),
                    None if last_login is None else float(last_login))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- login throttling ----------------------------------------------------------------

@dataclass(slots=True)
class _KeyState:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0
    last_failure: float = 0.0


class LoginThrottle:
    """Rate-limits failed logins per key (the app uses one key per user name and one per
    client address, e.g. ``"user:anna"`` and ``"addr:10.0.0.7"``).

    ``max_failures`` failures within ``window`` seconds lock the key for ``lock``
    seconds; each further lock-out doubles that, up to ``max_lock``. A key that has been
    quiet for ``forget_after`` seconds starts over, and a success clears it. Locking a
    user name means someone can keep a nurse out by guessing at her name: that is why a
    lock starts short (60 s) and why the address key exists, so the app can stop the
    guesser without waiting for the name to lock.

    Pure: time is the ``now`` argument; memory is bounded by ``max_keys`` (idle keys are
    dropped first). Thread-safe, since the app may call it from a thread pool.
    """

    def __init__(self, *, max_failures: int = 5, window: float = 300.0, lock: float = 60.0,
                 max_lock: float = 3600.0, forget_after: float = 24 * 3600.0,
                 max_keys: int = 10_000) -> None:
        if max_failures < 1 or window <= 0 or lock <= 0 or max_lock < lock:
            raise ValueError("LoginThrottle needs max_failures >= 1, window > 0 and "
                             "0 < lock <= max_lock")
        self.max_failures, self.window, self.lock = max_failures, window, lock
        self.max_lock, self.forget_after, self.max_keys = max_lock, forget_after, max_keys
        self._keys: dict[str, _KeyState] = {}
        self._mutex = threading.Lock()

    def check(self, key: str, now: float) -> int:
        """Whole seconds to wait before ``key`` may try again (0: go ahead); ready for a
        ``Retry-After`` header, rounded up so a client never retries a moment early."""
        with self._mutex:
            state = self._keys.get(key)
            if state is None or now >= state.locked_until:
                return 0
            return math.ceil(state.locked_until - now)

    def failure(self, key: str, now: float) -> None:
        """Count one failed login; the one that reaches the limit starts a lock-out.
        Failures while locked are not counted (the app should not have tried)."""
        with self._mutex:
            state = self._keys.get(key)
            if state is not None and now - state.last_failure > self.forget_after \
                    and now >= state.locked_until:
                state = None
            if state is None:
                if len(self._keys) >= self.max_keys:
                    self._prune(now)
                state = self._keys[key] = _KeyState()
            if now < state.locked_until:
                return
            state.last_failure = now
            state.failures.append(now)
            while state.failures and state.failures[0] <= now - self.window:
                state.failures.popleft()
            if len(state.failures) >= self.max_failures:
                state.locked_until = now + min(self.lock * 2 ** state.lockouts, self.max_lock)
                state.lockouts += 1
                state.failures.clear()

    def success(self, key: str) -> None:
        """A good login: forget the key's failures and lock-out history."""
        with self._mutex:
            self._keys.pop(key, None)

    def _prune(self, now: float) -> None:
        """Drop keys that are neither locked nor recently failing; if all are busy (a
        flood of addresses), drop the stalest half rather than grow without bound."""
        idle = [k for k, s in self._keys.items()
                if now >= s.locked_until and now - s.last_failure > self.window]
        for key in idle:
            del self._keys[key]
        if len(self._keys) >= self.max_keys:
            stalest = sorted(self._keys, key=lambda k: self._keys[k].last_failure)
            for key in stalest[:len(stalest) // 2 + 1]:
                del self._keys[key]
