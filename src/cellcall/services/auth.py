"""Login, lockout and password change, shared by the TUI and cellcall-admin.

Every failed login (unknown login, wrong password, locked or disabled account) gets the
same message and costs the same work: one argon2 verification and one write transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cellcall.config import SecurityConfig
from cellcall.db import run_write
from cellcall.errors import CellcallError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.users import Role, User
from cellcall.services import audit, passwords
from cellcall.services.actors import Actor


class LoginFailedError(CellcallError):
    """The one answer to every failed login."""


class LoginRefusedError(CellcallError):
    """The password is right but this user may not log in here now (station-bound
    logins): the message says why."""


# Given the session, the user whose password was right and the time: why they may not log
# in here now (a translated sentence), or None.
LoginGate = Callable[[Session, User, datetime], str | None]


def login_failed_message() -> str:
    return _("Login failed: check your login and password, or ask your supervisor.")


@dataclass(frozen=True)
class LoggedIn:
    """What the UI needs about a user who just logged in (never the ORM row)."""

    user_id: int
    login: str
    display_name: str
    role: Role
    languages: tuple[str, ...]
    ui_language: str
    must_change_password: bool

    @property
    def actor(self) -> Actor:
        return Actor(login=self.login, role=self.role, user_id=self.user_id)


def lock_duration(lockouts: int, security: SecurityConfig) -> timedelta:
    """The n-th lock (0-based) lasts base × 2ⁿ seconds, up to the maximum."""
    seconds = security.lockout_base_seconds * (2 ** min(lockouts, 20))
    return timedelta(seconds=min(seconds, security.lockout_max_seconds))


def _find_user(session: Session, login: str) -> User | None:
    return session.exec(select(User).where(User.login == login.strip().lower())).first()


def authenticate(*, engine: Engine, login: str, password: str,
                 security: SecurityConfig | None = None,
                 now: datetime | None = None, gate: LoginGate | None = None) -> LoggedIn:
    """Check a login and password; raise ``LoginFailedError`` with one message for all.

    ``gate`` is asked only once the password is known to be right; a refusal is audited
    (``login.refused``) and raised as ``LoginRefusedError`` with its reason."""
    security = security or SecurityConfig()

    def work(session: Session) -> LoggedIn | str | None:
        at = now or utcnow()
        user = _find_user(session, login)
        if user is None:
            passwords.verify_password(passwords.DUMMY_HASH, password)
            audit.record(session=session, actor="anonymous", action="login.failed",
                         target=login[:64], details={"reason": "unknown login"})
            return None
        good = passwords.verify_password(user.password_hash, password)
        locked = user.locked_until is not None and user.locked_until > at
        if user.disabled or locked or not good:
            reason = "disabled" if user.disabled else "locked" if locked else "wrong password"
            if not good and not locked and not user.disabled:
                user.failed_attempts += 1
                if user.failed_attempts >= security.lockout_threshold:
                    user.locked_until = at + lock_duration(user.lockouts, security)
                    user.lockouts += 1
                    user.failed_attempts = 0
                    reason = "wrong password, account locked"
            session.add(user)
            audit.record(session=session, actor="anonymous", action="login.failed",
                         target=user.login, details={"reason": reason})
            return None
        user.failed_attempts = 0
        user.lockouts = 0
        user.locked_until = None
        refusal = gate(session, user, at) if gate is not None else None
        if refusal is not None:
            session.add(user)
            audit.record(session=session, actor=user.login, action="login.refused",
                         target=user.login, details={"reason": refusal})
            return refusal
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        session.add(user)
        audit.record(session=session, actor=user.login, action="login", target=user.login)
        assert user.id is not None
        return LoggedIn(
            user_id=user.id, login=user.login, display_name=user.display_name,
            role=Role(user.role), languages=tuple(user.languages),
            ui_language=user.ui_language, must_change_password=user.must_change_password)

    result = run_write(engine, work)
    if result is None:
        raise LoginFailedError(login_failed_message())
    if isinstance(result, str):
        raise LoginRefusedError(result)
    return result


def change_password(*, engine: Engine, user_id: int, old_password: str, new_password: str,
                    security: SecurityConfig | None = None) -> None:
    """The user changes their own password (required after a one-time password)."""
    security = security or SecurityConfig()

    def work(session: Session) -> None:
        user = session.get(User, user_id)
        if user is None or not passwords.verify_password(user.password_hash, old_password):
            raise ValidationError(_("The current password is not right."))
        passwords.check_policy(new_password, login=user.login,
                               min_length=security.min_password_length)
        if passwords.verify_password(user.password_hash, new_password):
            raise ValidationError(_("The new password must differ from the current one."))
        user.password_hash = passwords.hash_password(new_password)
        user.must_change_password = False
        session.add(user)
        audit.record(session=session, actor=user.login, action="password.change",
                     target=user.login)

    run_write(engine, work)


def logout(*, engine: Engine, actor: Actor) -> None:
    def work(session: Session) -> None:
        audit.record(session=session, actor=actor, action="logout", target=actor.login)

    run_write(engine, work)
