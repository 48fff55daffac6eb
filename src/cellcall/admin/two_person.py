"""The second person's credentials for the commands under the two-person rule."""

from __future__ import annotations

import getpass
import sys

from cellcall.admin.context import AdminContext
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.services.two_person import SecondPerson

SECOND_LOGIN_HELP = _("Login of the second person (an admin or a supervisor) who confirms "
                      "this action (two-person rule).")
PASSWORD_STDIN_HELP = _("Read the second person's password from the first line of "
                        "standard input (otherwise it is asked for on the terminal).")


def second_person(admin: AdminContext, login: str | None,
                  password_stdin: bool) -> SecondPerson | None:
    """The credentials given on the command line, or None when no second login is given
    (the service then refuses an action that needs one)."""
    if not login:
        return None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin is not None and sys.stdin.isatty():
        try:
            password = getpass.getpass(_("Password of {login} (second person): ").format(
                login=login))
        except EOFError:
            password = ""
    else:
        raise ValidationError(_(
            "No terminal to ask the second person's password on: give it on standard "
            "input with --second-password-stdin."))
    if not password:
        raise ValidationError(_("The second person's password is empty; nothing was done."))
    return SecondPerson(login=login, password=password, security=admin.config.security)
