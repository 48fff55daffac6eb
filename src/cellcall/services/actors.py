"""Who is acting: every service that changes state or reveals data takes an actor."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass

from cellcall.errors import PermissionDeniedError
from cellcall.i18n import _
from cellcall.models.users import Role


@dataclass(frozen=True)
class Actor:
    """A logged-in user (TUI) or the admin at the server's shell (cellcall-admin)."""

    login: str
    role: Role
    user_id: int | None = None
    station_id: int | None = None

    @property
    def label(self) -> str:
        return self.login


def shell_admin() -> Actor:
    """The person running cellcall-admin: the server account, with the admin role."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor(login=f"shell:{name}", role=Role.ADMIN)


SYSTEM = Actor(login="system", role=Role.ADMIN)


def require_role(actor: Actor, allowed: Iterable[Role]) -> None:
    """Raise unless ``actor`` has one of the ``allowed`` roles (checked in services)."""
    if actor.role not in set(allowed):
        raise PermissionDeniedError(_("You are not allowed to do this."))
