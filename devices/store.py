"""Paired devices and their keys, in the task store's own file (table ``devices``).

Like ``service/accounts.py``: one SQLite file per ward to back up and move, our own
connection (``timeout=5``, short ``BEGIN IMMEDIATE`` writes), never the orchestrator's
one-writer lock (that lock is about deciding tasks, not about this table).

Keys at rest: a device key must be *used* to check signatures, so it cannot be hashed
like a token; it is encrypted instead. The wrapping key (32 random bytes) lives in its
own file beside the store, ``<store>.device-keys`` (mode 0600), so a copy of the store
alone reveals no device key. Each key is XOR-ed with an HMAC-SHA256 pad of the wrapping
key, a random salt and the device id, and carries an HMAC tag, so a row that was
edited or moved to another device id fails to open (and that device must be paired
again) instead of yielding a wrong key. Lose the key file and every device must be
paired again; back it up with the store, but keep the two apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from carefleet.errors import CareFleetError, InputError, StoreError
from carefleet.orchestrator.store import create_schema, sql_statements

_TABLES = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('paired', 'rejected', 'unpaired')),
    record TEXT NOT NULL,
    key_salt BLOB,
    key_enc BLOB,
    key_tag BLOB,
    changed_at REAL NOT NULL
);
"""
KEY_FILE_SUFFIX = ".device-keys"
_PAD = b"carefleet-device-key-v1:"
_TAG = b"carefleet-device-tag-v1:"


def key_file(store: str | os.PathLike[str]) -> str:
    return os.fspath(store) + KEY_FILE_SUFFIX


def _wrapping_key(path: str) -> bytes:
    """The wrapping key, made on first use (``O_EXCL``: two processes agree on one)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise InputError(path, f"cannot create the device key file: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
            out.flush()
            os.fsync(out.fileno())
    try:
        with open(path, "rb") as source:
            key = source.read()
    except OSError as exc:
        raise InputError(path, f"cannot read the device key file: {exc.strerror}") from None
    if len(key) != 32:
        raise InputError(path, f"a device key file holds 32 bytes, this one {len(key)}")
    return key


class DeviceStore:
    """The ``devices`` table of the store at ``path`` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise InputError(self.path, f"cannot open task store: {exc}") from None
        self._master_key: bytes | None = None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InputError(self.path, f"not a readable CareFleet task store: {exc}") from None
        except CareFleetError:
            self._db.close()
            raise

    def _tables(self) -> set[str]:
        return {name for (name,) in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _prepare(self) -> None:
        if self._tables() and "carefleet_schema" not in self._tables():
            raise InputError(self.path, "an SQLite file but not a CareFleet task store")
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise InputError(self.path, f"cannot use WAL journaling here (got '{mode}')")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._write() as db:
            tables = self._tables()
            if not tables:
                create_schema(db)
            elif "carefleet_schema" not in tables:
                raise InputError(self.path, "an SQLite file but not a CareFleet task store")
            for statement in sql_statements(_TABLES):
                db.execute(statement)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: could not start a write: {exc}") from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: could not commit: {exc}") from exc
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # -- keys ------------------------------------------------------------------
    @property
    def _master(self) -> bytes:
        """The wrapping key, read (or made) the first time a key is sealed or opened:
        a ward without paired devices gets no key file."""
        if self._master_key is None:
            self._master_key = _wrapping_key(key_file(self.path))
        return self._master_key

    def _pad(self, salt: bytes, device_id: str) -> bytes:
        return hmac.new(self._master, _PAD + salt + device_id.encode(), hashlib.sha256).digest()

    def _tag(self, salt: bytes, sealed: bytes, device_id: str) -> bytes:
        return hmac.new(self._master, _TAG + salt + sealed + device_id.encode(),
                        hashlib.sha256).digest()[:16]

    def _seal(self, key: bytes, device_id: str) -> tuple[bytes, bytes, bytes]:
        salt = secrets.token_bytes(16)
        sealed = bytes(a ^ b for a, b in zip(key, self._pad(salt, device_id)))
        return salt, sealed, self._tag(salt, sealed, device_id)

    def _open(self, salt: bytes, sealed: bytes, tag: bytes, device_id: str) -> bytes | None:
        if not hmac.compare_digest(bytes(tag), self._tag(bytes(salt), bytes(sealed), device_id)):
            return None
        return bytes(a ^ b for a, b in zip(bytes(sealed), self._pad(bytes(salt), device_id)))

    # -- rows ------------------------------------------------------------------
    def save(self, record: dict[str, Any], key: bytes | None) -> None:
        """Store one device's pairing (``record`` from ``Flow.record()``), replacing the
        old row; ``key`` is kept only while paired."""
        device_id, state = record["id"], record["state"]
        sealed = self._seal(key, device_id) if key is not None and state == "paired" \
            else (None, None, None)
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO devices (id, state, record, key_salt, key_enc, "
                       "key_tag, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (device_id, state, json.dumps(record, sort_keys=True), *sealed,
                        float(record["changed_at"])))

    def load(self) -> list[tuple[dict[str, Any], bytes | None]]:
        """Every stored device with its key (None if unpaired, or if its row does not
        open with this store's key file: such a device must be paired again)."""
        with self._lock:
            try:
                rows = self._db.execute("SELECT id, record, key_salt, key_enc, key_tag "
                                        "FROM devices ORDER BY id").fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: could not read: {exc}") from None
        out = []
        for device_id, text, salt, sealed, tag in rows:
            key = self._open(salt, sealed, tag, device_id) if sealed is not None else None
            out.append((json.loads(text), key))
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
