"""Staff accounts, machine tokens, login throttling and ``carefleet users``.

Time is only ever the ``now`` argument: expiry and lock-outs are stepped through by
passing later instants, nothing sleeps. Every store is a fresh file under ``tmp_path``.
"""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from carefleet import cli
from carefleet.errors import CareFleetError, InputError, StoreError
from carefleet.orchestrator.journal import Audited
from carefleet.orchestrator.store import TaskStore
from carefleet.service.accounts import (ACTIONS, MACHINE_ROLES, PERMISSIONS, ROLES,
                                        STAFF_ROLES, Accounts, AuthError, LoginThrottle,
                                        Principal, allowed, check_password, hash_password)

NOW = 1_700_000_000.0
PASSWORD = "correct horse battery"
CAREFLEET = Path(sys.executable).with_name("carefleet")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "carefleet.db"


@pytest.fixture
def accounts(store: Path):
    with Accounts(store) as opened:
        yield opened


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> dict:
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _rows(store: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute(sql).fetchall()


# -- passwords -------------------------------------------------------------------

def test_hashing_is_salted_so_the_same_password_gives_different_hashes(
        accounts: Accounts, store: Path) -> None:
    accounts.add_user("anna", "nurse", PASSWORD, NOW)
    accounts.add_user("ben", "nurse", PASSWORD, NOW)
    (anna,), (ben,) = _rows(store, "SELECT password_hash FROM accounts ORDER BY name")
    assert anna != ben and PASSWORD not in anna + ben
    scheme, n, r, p, salt, key = anna.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16
    assert len(base64.urlsafe_b64decode(key + "=")) == 32
    assert accounts.authenticate("anna", PASSWORD, NOW) == Principal("anna", "nurse", "user")
    assert accounts.authenticate("ben", PASSWORD, NOW).name == "ben"


def test_check_password_accepts_only_the_password_and_survives_a_broken_hash() -> None:
    stored = hash_password(PASSWORD)
    assert check_password(PASSWORD, stored)
    assert not check_password(PASSWORD + "x", stored)
    assert not check_password(PASSWORD, "not$a$hash")
    assert not check_password(PASSWORD, "bcrypt$1$2$3$aaaa$bbbb")


def test_a_wrong_password_an_unknown_user_and_a_disabled_user_are_refused_alike(
        accounts: Accounts) -> None:
    accounts.add_user("anna", "nurse", PASSWORD, NOW)
    accounts.add_user("carl", "viewer", PASSWORD, NOW)
    accounts.disable("carl", NOW)
    messages = set()
    for name, password in (("anna", "wrong password"), ("nobody", PASSWORD),
                           ("carl", PASSWORD), ("anna", "")):
        with pytest.raises(AuthError) as refused:
            accounts.authenticate(name, password, NOW)
        assert refused.value.reason == "invalid"
        messages.add(str(refused.value))
    assert len(messages) == 1, "the message must not tell which names exist"
    accounts.enable("carl", NOW + 1)
    assert accounts.authenticate("carl", PASSWORD, NOW + 2).role == "viewer"


@pytest.mark.parametrize("password, says", [("", "password is empty"),
                                            ("short", "password is too short")])
def test_empty_and_short_passwords_are_refused_with_one_line(
        accounts: Accounts, password: str, says: str) -> None:
    with pytest.raises(InputError) as refused:
        accounts.add_user("anna", "nurse", password, NOW)
    assert says in str(refused.value) and "\n" not in str(refused.value)
    accounts.add_user("anna", "nurse", PASSWORD, NOW)
    with pytest.raises(InputError, match=says):
        accounts.set_password("anna", password, NOW)
    assert accounts.authenticate("anna", PASSWORD, NOW).name == "anna"


def test_there_is_no_default_account(accounts: Accounts) -> None:
    assert accounts.list_users() == []
    for name, password in (("admin", "admin"), ("admin", ""), ("root", "password")):
        with pytest.raises(AuthError):
            accounts.authenticate(name, password, NOW)


def test_names_and_roles_are_checked(accounts: Accounts) -> None:
    accounts.add_user("Anna", "admin", PASSWORD, NOW)
    with pytest.raises(InputError, match="already exists"):
        accounts.add_user("anna", "nurse", PASSWORD, NOW)   # names are case-blind
    assert accounts.authenticate("anna", PASSWORD, NOW).name == "Anna"
    with pytest.raises(InputError, match="role must be one of admin, nurse, viewer"):
        accounts.add_user("ben", "robot", PASSWORD, NOW)
    for bad in ("robot:tray_1", "", "a b", "-x"):
        with pytest.raises(InputError, match="user name"):
            accounts.add_user(bad, "nurse", PASSWORD, NOW)
    with pytest.raises(InputError, match="no such user"):
        accounts.disable("nobody", NOW)


def test_list_users_shows_no_hashes(accounts: Accounts) -> None:
    accounts.add_user("anna", "nurse", PASSWORD, NOW)
    accounts.add_user("bea", "admin", PASSWORD, NOW + 1)
    accounts.authenticate("bea", PASSWORD, NOW + 5)
    users = accounts.list_users()
    assert [(u.name, u.role, u.disabled, u.last_login_at) for u in users] == [
        ("anna", "nurse", False, None), ("bea", "admin", False, NOW + 5)]
    assert not any("scrypt" in repr(u) or "hash" in repr(u) for u in users)


# -- staff tokens ------------------------------------------------------------------

def test_a_token_carries_user_role_and_expiry_and_expires_by_now(accounts: Accounts) -> None:
    accounts.add_user("anna", "nurse", PASSWORD, NOW)
    token = accounts.issue_token("anna", NOW, ttl=3600)
    payload = _payload(token)
    assert (payload["sub"], payload["role"], payload["exp"]) == ("anna", "nurse", NOW + 3600)
    assert accounts.verify(token, NOW + 30) == Principal("anna", "nurse", "user")
    assert accounts.verify(token, NOW + 3599).role == "nurse"
    for later in (NOW + 3600, NOW + 10 * 3600):
        with pytest.raises(AuthError) as refused:
            accounts.verify(token, later)
        assert refused.value.reason == "expired"
    default = accounts.issue_token(accounts.authenticate("anna", PASSWORD, NOW), NOW)
    assert _payload(default)["exp"] == NOW + 8 * 3600


def test_a_tampered_token_is_refused(accounts: Accounts, tmp_path: Path) -> None:
    accounts.add_user("anna", "viewer", PASSWORD, NOW)
    token = accounts.issue_token("anna", NOW)
    body, mac = token.split(".")
    promoted = dict(_payload(token), role="admin")
    extended = dict(_payload(token), exp=NOW + 10 ** 9)
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    with Accounts(tmp_path / "other.db") as other:
        other.add_user("anna", "viewer", PASSWORD, NOW)
        foreign = other.issue_token("anna", NOW)    # same user, another store's key
    forged = [
        _b64(json.dumps(promoted).encode()) + "." + mac,
        _b64(json.dumps(extended).encode()) + "." + mac,
        body + "." + flipped, body, body + ".", "." + mac, "", "garbage", "a.b.c",
        "é." + mac, foreign, token + "x" * 5000,
    ]
    for bad in forged:
        with pytest.raises(AuthError) as refused:
            accounts.verify(bad, NOW + 1)
        assert refused.value.reason == "invalid", bad
    assert accounts.verify(token, NOW + 1).role == "viewer"


def test_disabling_removing_or_changing_a_user_ends_its_tokens(accounts: Accounts) -> None:
    for name in ("anna", "ben", "carl", "dora"):
        accounts.add_user(name, "nurse", PASSWORD, NOW)
    tokens = {name: accounts.issue_token(name, NOW) for name in ("anna", "ben", "carl", "dora")}
    accounts.disable("anna", NOW + 1)
    accounts.set_password("ben", PASSWORD + "!", NOW + 1)
    accounts.set_role("carl", "viewer", NOW + 1)
    accounts.remove("dora")
    for name, token in tokens.items():
        with pytest.raises(AuthError) as refused:
            accounts.verify(token, NOW + 2)
        assert refused.value.reason == "invalid", name
    with pytest.raises(AuthError):
        accounts.issue_token("anna", NOW + 2)          # no new token for a disabled user
    accounts.enable("anna", NOW + 3)
    with pytest.raises(AuthError):
        accounts.verify(tokens["anna"], NOW + 4)        # re-enabling revives nothing
    assert accounts.verify(accounts.issue_token("ben", NOW + 4), NOW + 5).name == "ben"
    assert accounts.verify(accounts.issue_token("carl", NOW + 4), NOW + 5).role == "viewer"


def test_a_removed_and_re_added_user_does_not_revive_old_tokens(accounts: Accounts) -> None:
    accounts.add_user("anna", "admin", PASSWORD, NOW)
    old = accounts.issue_token("anna", NOW)
    accounts.remove("anna")
    accounts.add_user("anna", "admin", PASSWORD, NOW + 1)
    with pytest.raises(AuthError):
        accounts.verify(old, NOW + 2)
    assert accounts.verify(accounts.issue_token("anna", NOW + 2), NOW + 3).name == "anna"


def test_the_signing_key_is_random_made_once_and_kept_in_the_store(store: Path,
                                                                    tmp_path: Path) -> None:
    with Accounts(store) as first:
        first.add_user("anna", "nurse", PASSWORD, NOW)
        token = first.issue_token("anna", NOW)
    with Accounts(store) as reopened:                   # a restarted service
        assert reopened.verify(token, NOW + 60).name == "anna"
    ((name, key),) = _rows(store, "SELECT name, value FROM service_secrets")
    assert name == "token_hmac_key"
    assert len(key) == 32
    with Accounts(tmp_path / "second.db") as other:
        other.add_user("anna", "nurse", PASSWORD, NOW)
        other.issue_token("anna", NOW)
    ((other_key,),) = _rows(tmp_path / "second.db", "SELECT value FROM service_secrets")
    assert other_key != key


# -- machine tokens ----------------------------------------------------------------

def test_machine_tokens_verify_through_verify_are_stored_hashed_and_revocable(
        accounts: Accounts, store: Path) -> None:
    robot = accounts.add_machine_token("robot:tray_1", "robot", NOW)
    spare = accounts.add_machine_token("tray_1", "robot", NOW + 1)   # rotation: two live
    device = accounts.add_machine_token("call_203", "device", NOW)
    assert robot != spare
    assert accounts.verify(robot, NOW + 10 ** 8) == Principal("robot:tray_1", "robot", "machine")
    assert accounts.verify(device, NOW) == Principal("device:call_203", "device", "machine")
    assert accounts.verify(robot, NOW).can("robot_report")
    assert not accounts.verify(device, NOW).can("read")
    stored = _rows(store, "SELECT token_hash FROM machine_tokens")
    assert len(stored) == 3 and not {robot, spare, device} & {h for (h,) in stored}
    assert robot.encode() not in store.read_bytes()
    listed = accounts.list_machine_tokens()
    assert [(t.subject, t.role, t.revoked_at) for t in listed] == [
        ("device:call_203", "device", None), ("robot:tray_1", "robot", None),
        ("robot:tray_1", "robot", None)]

    first_id = listed[1].id
    assert accounts.revoke("robot:tray_1", NOW + 5, token_id=first_id) == 1
    with pytest.raises(AuthError) as refused:
        accounts.verify(robot, NOW + 6)
    assert refused.value.reason == "invalid"
    assert accounts.verify(spare, NOW + 6).name == "robot:tray_1"
    assert accounts.revoke("tray_1", NOW + 7) == 1
    with pytest.raises(AuthError):
        accounts.verify(spare, NOW + 8)
    with pytest.raises(InputError, match="no live machine token"):
        accounts.revoke("tray_1", NOW + 9)
    with pytest.raises(AuthError):
        accounts.verify("cfm_" + "A" * 43, NOW)


@pytest.mark.parametrize("subject, role, says", [
    ("device:call_203", "robot", "subject says 'device'"),
    ("tray_1", "nurse", "role must be one of robot, device"),
    ("robot:", "robot", "expected robot:ID"),
    ("robot:a b", "robot", "expected robot:ID"),
])
def test_a_machine_subject_must_match_its_role(accounts: Accounts, subject: str, role: str,
                                               says: str) -> None:
    with pytest.raises(InputError, match=says):
        accounts.add_machine_token(subject, role, NOW)


# -- roles ---------------------------------------------------------------------

STAFF_ACTIONS = {"read", "submit_task", "cancel_task", "ack_alert", "resolve_alert",
                 "pause_robot", "edit_schedules"}
EXPECTED = {
    "admin": STAFF_ACTIONS | {"manage_users", "manage_devices"},
    "nurse": STAFF_ACTIONS,
    "viewer": {"read"},
    "robot": {"robot_report", "read"},
    "device": {"device_event"},
}


@pytest.mark.parametrize("role", ROLES)
def test_the_roles_table(role: str) -> None:
    assert {action for action in ACTIONS if allowed(role, action)} == EXPECTED[role]
    assert PERMISSIONS[role] == EXPECTED[role]


def test_a_viewer_cannot_submit_or_cancel_and_only_an_admin_manages_users() -> None:
    assert not allowed("viewer", "submit_task") and not allowed("viewer", "cancel_task")
    assert allowed("nurse", "submit_task") and allowed("nurse", "cancel_task")
    assert [role for role in ROLES if allowed(role, "manage_users")] == ["admin"]
    assert set(ROLES) == set(STAFF_ROLES) | set(MACHINE_ROLES) == set(PERMISSIONS)


def test_an_unknown_action_raises_and_an_unknown_role_is_denied() -> None:
    with pytest.raises(ValueError, match="unknown action 'delete_everything'"):
        allowed("admin", "delete_everything")
    assert not any(allowed("superuser", action) for action in ACTIONS)


# -- throttle ----------------------------------------------------------------------

def test_the_throttle_locks_after_five_failures_and_unlocks_after_the_wait() -> None:
    throttle = LoginThrottle()
    for i in range(4):
        assert throttle.check("user:anna", NOW + i) == 0
        throttle.failure("user:anna", NOW + i)
    assert throttle.check("user:anna", NOW + 4) == 0
    throttle.failure("user:anna", NOW + 4)              # the fifth within 5 minutes
    assert throttle.check("user:anna", NOW + 4) == 60
    assert throttle.check("user:anna", NOW + 4.5) == 60  # rounded up for Retry-After
    assert throttle.check("user:anna", NOW + 63) == 1
    assert throttle.check("addr:10.0.0.7", NOW + 5) == 0  # keys are independent
    throttle.failure("user:anna", NOW + 30)              # while locked: not counted
    assert throttle.check("user:anna", NOW + 64) == 0


def test_the_throttle_lock_grows_exponentially_and_a_success_clears_it() -> None:
    throttle = LoginThrottle(max_failures=5, window=300, lock=60, max_lock=200)
    t = NOW
    for expected in (60, 120, 200, 200):
        for _ in range(5):
            throttle.failure("addr:10.0.0.7", t)
        assert throttle.check("addr:10.0.0.7", t) == expected
        t += expected
        assert throttle.check("addr:10.0.0.7", t) == 0
    throttle.success("addr:10.0.0.7")
    for _ in range(5):
        throttle.failure("addr:10.0.0.7", t)
    assert throttle.check("addr:10.0.0.7", t) == 60


def test_the_throttle_forgets_failures_outside_its_window() -> None:
    throttle = LoginThrottle()
    for i in range(20):                   # never 5 within 5 minutes: one each 76 s
        throttle.failure("user:anna", NOW + i * 76)
        assert throttle.check("user:anna", NOW + i * 76) == 0
    for _ in range(4):
        throttle.failure("user:ben", NOW)
    throttle.failure("user:ben", NOW + 301)
    assert throttle.check("user:ben", NOW + 301) == 0


def test_the_throttle_stays_bounded_under_a_flood_of_addresses() -> None:
    throttle = LoginThrottle(max_keys=100)
    for i in range(1000):
        throttle.failure(f"addr:10.0.{i // 250}.{i % 250}", NOW + i)
    assert len(throttle._keys) <= 100


# -- the store file ------------------------------------------------------------------

def test_a_fresh_store_file_gets_wal_and_stays_a_task_store(store: Path) -> None:
    with Accounts(store) as accounts:
        accounts.add_user("anna", "admin", PASSWORD, NOW)
    assert _rows(store, "PRAGMA journal_mode") == [("wal",)]
    with TaskStore(store) as tasks:                       # it takes the file as its own
        tasks.write([Audited(at=NOW, actor="staff:anna", action="task_submitted",
                             task_id="t1")])
        assert tasks.integrity() == "ok" and len(tasks.audit()) == 1
    with Accounts(store) as accounts:
        assert accounts.authenticate("anna", PASSWORD, NOW).role == "admin"


def test_accounts_work_beside_an_open_task_store_writer(store: Path) -> None:
    with TaskStore(store) as tasks:
        with Accounts(store) as accounts:
            accounts.add_user("anna", "nurse", PASSWORD, NOW)
            token = accounts.issue_token(accounts.authenticate("anna", PASSWORD, NOW), NOW)
            tasks.write([Audited(at=NOW, actor="staff:anna", action="task_submitted",
                                 task_id="t1")])
            robot = accounts.add_machine_token("tray_1", "robot", NOW)
            assert accounts.verify(token, NOW + 1).name == "anna"
            assert accounts.verify(robot, NOW + 1).role == "robot"
        with pytest.raises(StoreError, match="already in use"):
            TaskStore(store)                              # its lock is still its own
        assert len(tasks.audit()) == 1


def test_writes_from_two_threads_and_a_task_store_all_land(store: Path) -> None:
    with TaskStore(store) as tasks, Accounts(store) as accounts:
        errors: list[BaseException] = []

        def add(prefix: str) -> None:
            try:
                for i in range(3):
                    accounts.add_user(f"{prefix}{i}", "viewer", PASSWORD, NOW)
            except BaseException as error:   # pragma: no cover - reported below
                errors.append(error)
        threads = [threading.Thread(target=add, args=(p,)) for p in ("a", "b")]
        for thread in threads:
            thread.start()
        for i in range(20):
            tasks.write([Audited(at=NOW + i, actor="orchestrator", action="tick")])
        for thread in threads:
            thread.join()
        assert not errors
        assert len(accounts.list_users()) == 6 and len(tasks.audit()) == 20


def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "photos.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    before = foreign.read_bytes()
    with pytest.raises(InputError, match="not a CareFleet task store"):
        Accounts(foreign)
    assert foreign.read_bytes() == before
    text = tmp_path / "notes.db"
    text.write_text("hello, this is not a database at all" * 100)
    with pytest.raises(InputError, match="not a readable CareFleet task store"):
        Accounts(text)


def test_auth_error_is_a_carefleet_error() -> None:
    assert issubclass(AuthError, CareFleetError)
    assert AuthError("expired", "token for anna expired").reason == "expired"


# -- the command ---------------------------------------------------------------------

def _run(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    """The installed ``carefleet`` in its own process, the password on its stdin."""
    return subprocess.run([str(CAREFLEET), "users", *args], input=password,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def users(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``carefleet users ...`` in this process (a subprocess costs a second of imports):
    returns (exit code, stdout, stderr)."""
    def run(*args: str, password: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(password))
        code = cli.main(["users", *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _one_line_error(code: int, err: str, says: str) -> None:
    assert code == 2, err
    assert err.startswith("carefleet: error: ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_users_add_reads_the_password_from_stdin(store: Path) -> None:
    run = _run("add", "anna", "--role", "nurse", "--store", str(store),
               password=PASSWORD + "\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"anna: added as nurse in {store}\n"
    assert PASSWORD not in run.stdout + run.stderr
    with Accounts(store) as accounts:
        assert accounts.authenticate("anna", PASSWORD, NOW).role == "nurse"


def test_users_add_without_a_password_exits_2_with_one_line(store: Path, users) -> None:
    run = _run("add", "anna", "--role", "nurse", "--store", str(store))
    _one_line_error(run.returncode, run.stderr, "password is empty")
    _one_line_error(*users("add", "anna", "--role", "nurse", "--store", str(store),
                           password="short\n")[::2], "password is too short")
    _one_line_error(*users("add", "anna", "--role", "robot", "--store", str(store),
                           password=PASSWORD)[::2], "role must be one of admin, nurse, viewer")
    _one_line_error(*users("add", "anna", "--role", "nurse", password=PASSWORD)[::2],
                    "--store FILE or SITE.yaml")
    with Accounts(store) as accounts:
        assert accounts.list_users() == []


def test_users_list_disable_and_token_from_the_command(store: Path, users) -> None:
    assert users("add", "anna", "--role", "admin", "--store", str(store),
                 password=PASSWORD)[0] == 0
    with Accounts(store) as accounts:
        session = accounts.issue_token("anna", NOW)
    code, out, err = users("token", "tray_1", "--role", "robot", "--store", str(store))
    assert code == 0, err
    token = out.strip()
    assert out.count("\n") == 1 and "shown only once" in err
    code, out, err = users("list", "--store", str(store))
    assert code == 0, err
    assert "anna" in out and "admin" in out and "robot:tray_1" in out
    assert token not in out and "scrypt" not in out
    assert users("disable", "anna", "--store", str(store))[0] == 0
    with Accounts(store) as accounts:
        assert accounts.verify(token, NOW).name == "robot:tray_1"
        with pytest.raises(AuthError):
            accounts.verify(session, NOW + 1)
    assert users("revoke", "robot:tray_1", "--store", str(store))[0] == 0
    with Accounts(store) as accounts, pytest.raises(AuthError):
        accounts.verify(token, NOW)
    _one_line_error(*users("disable", "nobody", "--store", str(store))[::2], "no such user")
    _one_line_error(*users("token", "tray_1", "--role", "nurse", "--store", str(store))[::2],
                    "role must be one of robot, device")


def test_users_passwd_changes_the_password_and_ends_sessions(store: Path, users) -> None:
    users("add", "anna", "--role", "nurse", "--store", str(store), password=PASSWORD)
    with Accounts(store) as accounts:
        session = accounts.issue_token("anna", NOW)
    assert users("passwd", "anna", "--store", str(store), password="a new password\n")[0] == 0
    with Accounts(store) as accounts:
        assert accounts.authenticate("anna", "a new password", NOW).name == "anna"
        with pytest.raises(AuthError):
            accounts.verify(session, NOW + 1)


def test_users_add_with_a_site_file(tmp_path: Path, users) -> None:
    site_module = pytest.importorskip("carefleet.service.site")
    text = site_module.DEMO_SITE.read_text(encoding="utf-8")
    assert "\nstore: carefleet.db\n" in text
    site = tmp_path / "site.yaml"
    site.write_text(text.replace("\nstore: carefleet.db\n", "\nstore: ward.db\n"))
    code, _, err = users("add", "anna", "--role", "viewer", str(site), password=PASSWORD)
    assert code == 0, err
    with Accounts(tmp_path / "ward.db") as accounts:
        assert accounts.authenticate("anna", PASSWORD, NOW).role == "viewer"
    _one_line_error(*users("list", str(tmp_path / "missing.yaml"))[::2], "missing.yaml")
    _one_line_error(*users("list", str(site), "--store", str(tmp_path / "x.db"))[::2],
                    "not both")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_password_is_asked_twice_and_must_match(
        store: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import getpass
    answers = iter(["a good password", "a goof password", "a good password",
                    "a good password"])
    monkeypatch.setattr(sys, "stdin", _Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert cli.main(["users", "add", "anna", "--role", "nurse", "--store", str(store)]) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    assert cli.main(["users", "add", "anna", "--role", "nurse", "--store", str(store)]) == 0
    with Accounts(store) as accounts:
        assert accounts.authenticate("anna", "a good password", NOW).name == "anna"
