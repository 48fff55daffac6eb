"""Login, one-time passwords, rehash, lockout, and one answer for every failed login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from cellcall.config import SecurityConfig
from cellcall.db import read_session, run_write
from cellcall.errors import ValidationError
from cellcall.models.audit import AuditEvent
from cellcall.models.users import Role, User, UserCreate
from cellcall.services import audit, auth, passwords, users
from cellcall.services.actors import shell_admin

PASSWORD = "a-long-secret-1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add(engine: Engine, login: str = "alice", password: str | None = PASSWORD) -> str:
    def work(session: Session) -> str:
        _user, pw = users.add_user(session=session, actor=shell_admin(), password=password,
                                   data=UserCreate(login=login, display_name=login.title(),
                                                   role=Role.OPERATOR))
        return pw

    return run_write(engine, work)


def get_user(engine: Engine, login: str = "alice") -> User:
    with read_session(engine) as session:
        return users.get_user(session=session, login=login)


def audit_count(engine: Engine) -> int:
    with read_session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def login(engine: Engine, password: str, *, at: datetime, name: str = "alice") -> auth.LoggedIn:
    return auth.authenticate(engine=engine, login=name, password=password, now=at)


class CountingHasher:
    """Wraps the real hasher and counts argon2 verifications."""

    def __init__(self, inner: PasswordHasher) -> None:
        self.inner = inner
        self.verifications = 0

    def verify(self, hash: str, password: str) -> bool:
        self.verifications += 1
        return self.inner.verify(hash, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_one_time_password_must_be_changed(engine: Engine) -> None:
    one_time = add(engine, password=None)
    logged = login(engine, one_time, at=T0)
    assert logged.must_change_password
    assert logged.actor.role == Role.OPERATOR
    auth.change_password(engine=engine, user_id=logged.user_id, old_password=one_time,
                         new_password="my own phrase 42")
    assert not get_user(engine).must_change_password
    assert not login(engine, "my own phrase 42", at=T0).must_change_password
    with pytest.raises(auth.LoginFailedError):
        login(engine, one_time, at=T0)
    # An admin reset gives a new one-time password, to change again.
    reset = run_write(engine, lambda s: users.reset_password(
        session=s, actor=shell_admin(), login="alice"))
    assert get_user(engine).must_change_password
    assert login(engine, reset, at=T0).must_change_password


def test_change_password_applies_the_policy(engine: Engine) -> None:
    add(engine)
    user_id = get_user(engine).id
    assert user_id is not None
    before = get_user(engine).password_hash
    for old, new, message in [
        ("wrong-old-pass", "another phrase", "current password"),
        (PASSWORD, "short", "at least 8"),
        (PASSWORD, "password123", "too common"),
        (PASSWORD, "Alice", "at least 8"),
        (PASSWORD, PASSWORD, "differ"),
    ]:
        with pytest.raises(ValidationError, match=message):
            auth.change_password(engine=engine, user_id=user_id, old_password=old,
                                 new_password=new)
    assert get_user(engine).password_hash == before


def test_hash_made_with_older_parameters_is_upgraded_at_login(engine: Engine) -> None:
    add(engine)
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    old_hash = cheap.hash(PASSWORD)

    def downgrade(session: Session) -> None:
        user = users.get_user(session=session, login="alice")
        user.password_hash = old_hash
        session.add(user)

    run_write(engine, downgrade)
    assert passwords.needs_rehash(old_hash)
    login(engine, PASSWORD, at=T0)
    new_hash = get_user(engine).password_hash
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert not passwords.needs_rehash(new_hash)
    params = passwords.HASHER
    assert f"m={params.memory_cost},t={params.time_cost},p={params.parallelism}" in new_hash
    assert login(engine, PASSWORD, at=T0).login == "alice"


def test_five_failures_lock_even_the_right_password_with_growing_delays(engine: Engine) -> None:
    add(engine)
    security = SecurityConfig()
    for _ in range(security.lockout_threshold - 1):
        with pytest.raises(auth.LoginFailedError):
            login(engine, "wrong guess 1", at=T0)
    assert get_user(engine).locked_until is None
    assert login(engine, PASSWORD, at=T0).login == "alice"  # success resets the count
    for _ in range(security.lockout_threshold):
        with pytest.raises(auth.LoginFailedError):
            login(engine, "wrong guess 2", at=T0)
    first_lock = get_user(engine).locked_until
    assert first_lock == T0 + timedelta(seconds=security.lockout_base_seconds)
    with pytest.raises(auth.LoginFailedError):
        login(engine, PASSWORD, at=T0 + timedelta(seconds=59))

    t1 = first_lock + timedelta(seconds=1)
    for _ in range(security.lockout_threshold):
        with pytest.raises(auth.LoginFailedError):
            login(engine, "wrong guess 3", at=t1)
    second_lock = get_user(engine).locked_until
    assert second_lock is not None
    assert second_lock - t1 == 2 * (first_lock - T0), "the second lock lasts longer"
    with pytest.raises(auth.LoginFailedError):
        login(engine, PASSWORD, at=second_lock - timedelta(seconds=1))
    assert login(engine, PASSWORD, at=second_lock + timedelta(seconds=1)).login == "alice"
    assert get_user(engine).lockouts == 0


def test_lock_duration_is_capped() -> None:
    security = SecurityConfig()
    assert auth.lock_duration(0, security) == timedelta(seconds=60)
    assert auth.lock_duration(1, security) == timedelta(seconds=120)
    assert auth.lock_duration(50, security) == timedelta(seconds=security.lockout_max_seconds)


def test_unlock_lifts_the_lock(engine: Engine) -> None:
    add(engine)
    for _ in range(5):
        with pytest.raises(auth.LoginFailedError):
            login(engine, "wrong guess 4", at=T0)
    with pytest.raises(auth.LoginFailedError):
        login(engine, PASSWORD, at=T0)
    run_write(engine, lambda s: users.unlock_user(session=s, actor=shell_admin(), login="alice"))
    assert login(engine, PASSWORD, at=T0).login == "alice"


def test_every_failure_gives_the_same_answer_and_the_same_work(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    add(engine)
    add(engine, login="bob")
    run_write(engine, lambda s: users.disable_user(session=s, actor=shell_admin(), login="bob"))
    counter = CountingHasher(passwords.HASHER)
    monkeypatch.setattr(passwords, "HASHER", counter)

    def attempt(name: str, password: str) -> tuple[type[Exception], str, int, int]:
        counter.verifications = 0
        rows = audit_count(engine)
        with pytest.raises(auth.LoginFailedError) as info:
            login(engine, password, at=T0, name=name)
        return type(info.value), str(info.value), counter.verifications, audit_count(engine) - rows

    unknown = attempt("nobody", "wrong guess 5")
    wrong = attempt("alice", "wrong guess 5")
    disabled = attempt("bob", PASSWORD)  # bob's right password, but he is disabled
    assert unknown == wrong == disabled
    assert unknown[2] == 1, "exactly one argon2 verification"
    assert unknown[3] == 1, "exactly one audit row"
    assert unknown[1] == auth.login_failed_message()
    with read_session(engine) as session:
        rows = session.exec(
            select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(3)).all()
    assert [r.action for r in rows] == ["login.failed"] * 3
    assert all("wrong guess" not in r.details and PASSWORD not in r.details for r in rows)
    with read_session(engine) as session:
        assert audit.verify(session=session).ok
