"""The two-person rule: the most sensitive admin actions (exporting contact data with the
numbers, purging recordings) need a second person, an admin or supervisor, who confirms
with their own login and password.

The second person is authenticated by the shared login service: a wrong password counts
toward that account's lockout like any failed login, and a disabled or locked account is
refused. An account still on the one-time password an admin gave it is refused too: the
admin who set that password knows it, so it proves no second person. The action's own
audit row names both people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from cellcall.config import SecurityConfig
from cellcall.errors import PermissionDeniedError
from cellcall.i18n import _
from cellcall.models.users import Role
from cellcall.services import auth
from cellcall.services.actors import Actor

CONFIRMERS = (Role.ADMIN, Role.SUPERVISOR)
SHELL_PREFIX = "shell:"


@dataclass(frozen=True)
class SecondPerson:
    """The credentials a second person typed for one action."""

    login: str
    password: str = field(repr=False)
    security: SecurityConfig = field(default_factory=SecurityConfig)


def _same_person(actor: Actor, login: str) -> bool:
    # The shell admin is known by their server account name: the same name as the
    # second login is taken as the same person.
    first = actor.login.removeprefix(SHELL_PREFIX).strip().lower()
    return first == login


def confirm(*, engine: Engine, actor: Actor, second: SecondPerson | None) -> str:
    """Authenticate the second person; return their login. Raises PermissionDeniedError
    (one line, safe to show) when there is none or they cannot confirm."""
    if second is None or not second.login.strip():
        raise PermissionDeniedError(_(
            "This action needs a second person: give an admin's or supervisor's login with "
            "--second-login (their password is asked for, or read with "
            "--second-password-stdin)."))
    login = second.login.strip().lower()
    if _same_person(actor, login):
        raise PermissionDeniedError(_(
            "The second person must be someone other than the one running the action."))
    try:
        who = auth.authenticate(engine=engine, login=login, password=second.password,
                                security=second.security)
    except auth.LoginFailedError:
        raise PermissionDeniedError(_(
            "The second person's login failed (wrong login or password, or the account "
            "is locked or disabled); nothing was done.")) from None
    if who.role not in CONFIRMERS:
        raise PermissionDeniedError(_(
            "The second person must be an admin or a supervisor; nothing was done."))
    if who.must_change_password:
        raise PermissionDeniedError(_(
            "The second person must first replace their one-time password (log in to "
            "cellcall once); nothing was done."))
    return who.login
