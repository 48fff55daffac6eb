"""User accounts, managed by admins (cellcall-admin) and supervisors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from cellcall.errors import NotFoundError, ValidationError
from cellcall.i18n import _
from cellcall.models.users import Role, User, UserCreate
from cellcall.services import audit, passwords
from cellcall.services.actors import Actor, require_role
from cellcall.services.languages import parse_languages

LOGIN_RE = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class UserView:
    """A user as listed to an admin (no hash)."""

    id: int
    login: str
    display_name: str
    role: str
    languages: tuple[str, ...]
    ui_language: str
    must_change_password: bool
    failed_attempts: int
    locked_until: datetime | None
    disabled: bool


def _view(user: User) -> UserView:
    assert user.id is not None
    return UserView(user.id, user.login, user.display_name, user.role, tuple(user.languages),
                    user.ui_language, user.must_change_password, user.failed_attempts,
                    user.locked_until, user.disabled)


def validate_login(login: str) -> str:
    normalized = login.strip().lower()
    if not LOGIN_RE.match(normalized):
        raise ValidationError(_(
            "Invalid login '{login}': 2 to 64 characters, a letter first, then letters, "
            "digits, '.', '_' or '-'.").format(login=login))
    return normalized


def get_user(*, session: Session, login: str) -> User:
    user = session.exec(select(User).where(User.login == login.strip().lower())).first()
    if user is None:
        raise NotFoundError(_("No user with login '{login}'.").format(login=login))
    return user


def add_user(*, session: Session, actor: Actor, data: UserCreate,
             password: str | None = None, min_password_length: int = 8) -> tuple[User, str]:
    """Create a user with a one-time password; return it and that password."""
    require_role(actor, [Role.ADMIN])
    login = validate_login(data.login)
    if not data.display_name.strip():
        raise ValidationError(_("The name must not be empty."))
    languages = parse_languages(",".join(data.languages))
    ui_language = data.ui_language.strip().lower()
    if ui_language not in ("fr", "en"):  # refused, not silently replaced
        raise ValidationError(_("Unknown interface language '{code}' (fr or en).").format(
            code=data.ui_language))
    if session.exec(select(User).where(User.login == login)).first():
        raise ValidationError(_("A user with login '{login}' already exists.").format(
            login=login))
    if password is None:
        password = passwords.generate_one_time_password()
    else:
        passwords.check_policy(password, login=login, min_length=min_password_length)
    user = User(login=login, display_name=data.display_name.strip(), role=data.role,
                languages=list(languages), ui_language=ui_language,
                password_hash=passwords.hash_password(password), must_change_password=True)
    session.add(user)
    session.flush()
    audit.record(session=session, actor=actor, action="user.add", target=login,
                 details={"role": str(data.role), "languages": list(languages)})
    return user, password


def list_users(*, session: Session, actor: Actor) -> list[UserView]:
    require_role(actor, [Role.ADMIN, Role.SUPERVISOR])
    return [_view(u) for u in session.exec(select(User).order_by(col(User.login))).all()]


def disable_user(*, session: Session, actor: Actor, login: str) -> None:
    require_role(actor, [Role.ADMIN])
    user = get_user(session=session, login=login)
    if user.disabled:
        raise ValidationError(_("User '{login}' is already disabled.").format(login=user.login))
    user.disabled = True
    session.add(user)
    audit.record(session=session, actor=actor, action="user.disable", target=user.login)


def enable_user(*, session: Session, actor: Actor, login: str) -> None:
    require_role(actor, [Role.ADMIN])
    user = get_user(session=session, login=login)
    if not user.disabled:
        raise ValidationError(_("User '{login}' is not disabled.").format(login=user.login))
    user.disabled = False
    session.add(user)
    audit.record(session=session, actor=actor, action="user.enable", target=user.login)


def unlock_user(*, session: Session, actor: Actor, login: str) -> None:
    require_role(actor, [Role.ADMIN, Role.SUPERVISOR])
    user = get_user(session=session, login=login)
    user.locked_until = None
    user.failed_attempts = 0
    user.lockouts = 0
    session.add(user)
    audit.record(session=session, actor=actor, action="user.unlock", target=user.login)


def reset_password(*, session: Session, actor: Actor, login: str,
                   password: str | None = None, min_password_length: int = 8) -> str:
    """Give the user a new one-time password (to change at next login)."""
    require_role(actor, [Role.ADMIN])
    user = get_user(session=session, login=login)
    if password is None:
        password = passwords.generate_one_time_password()
    else:
        passwords.check_policy(password, login=user.login, min_length=min_password_length)
    user.password_hash = passwords.hash_password(password)
    user.must_change_password = True
    user.failed_attempts = 0
    user.lockouts = 0
    user.locked_until = None
    session.add(user)
    audit.record(session=session, actor=actor, action="user.reset-password", target=user.login)
    return password
