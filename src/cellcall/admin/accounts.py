"""``user`` and ``station`` commands."""

from __future__ import annotations

import sys

import typer

from cellcall.admin.context import ctx_of, done, print_rows
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.users import Role, StationCreate, UserCreate
from cellcall.services import stations, users

user_app = typer.Typer(help=_("User accounts."), no_args_is_help=True)
station_app = typer.Typer(help=_("Terminal stations."), no_args_is_help=True)


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise ValidationError(_("No password on standard input."))
    return password


@user_app.command(
    "add", help=_("Add a user; without --password-stdin, print a generated one-time password."))
def user_add(
    ctx: typer.Context,
    login: str = typer.Argument(..., help=_("Login (lower case).")),
    role: Role = typer.Option(..., "--role", help=_("operator, supervisor or admin.")),
    name: str = typer.Option(..., "--name", help=_("Display name.")),
    languages: str = typer.Option("fr", "--languages", help=_("Languages spoken, e.g. fr,ru.")),
    ui_language: str = typer.Option("fr", "--ui-language", help=_("Interface language: fr or en.")),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help=_("Read the initial password from standard input.")),
) -> None:
    admin = ctx_of(ctx)
    password = _read_password_stdin() if password_stdin else None
    langs = [p for p in languages.split(",")]
    data = UserCreate(login=login, display_name=name, role=role, languages=langs,
                      ui_language=ui_language)
    _user, one_time = admin.write(lambda s: users.add_user(
        session=s, actor=admin.actor, data=data, password=password,
        min_password_length=admin.config.security.min_password_length))
    done(_("User {login} added ({role}).").format(login=data.login.strip().lower(),
                                                  role=role.value))
    if password is None:
        done(_("One-time password (to change at first login): {pw}").format(pw=one_time))


@user_app.command("list", help=_("List users, with lock and disabled states."))
def user_list(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    with admin.read() as s:
        rows = users.list_users(session=s, actor=admin.actor)
    print_rows(
        [_("login"), _("name"), _("role"), _("languages"), _("ui"), _("state")],
        [[u.login, u.display_name, u.role, ",".join(u.languages), u.ui_language,
          _("disabled") if u.disabled else _("locked") if u.locked_until else
          _("must change password") if u.must_change_password else _("active")]
         for u in rows])


@user_app.command("disable", help=_("Disable a user: they can no longer log in."))
def user_disable(ctx: typer.Context, login: str) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: users.disable_user(session=s, actor=admin.actor, login=login))
    done(_("User {login} disabled.").format(login=login))


@user_app.command("enable", help=_("Enable a disabled user again."))
def user_enable(ctx: typer.Context, login: str) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: users.enable_user(session=s, actor=admin.actor, login=login))
    done(_("User {login} enabled.").format(login=login))


@user_app.command("unlock", help=_("Lift a lockout after failed logins."))
def user_unlock(ctx: typer.Context, login: str) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: users.unlock_user(session=s, actor=admin.actor, login=login))
    done(_("User {login} unlocked.").format(login=login))


@user_app.command("reset-password", help=_("Give a user a new one-time password."))
def user_reset_password(
    ctx: typer.Context, login: str,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help=_("Read the one-time password from standard input.")),
) -> None:
    admin = ctx_of(ctx)
    password = _read_password_stdin() if password_stdin else None
    one_time = admin.write(lambda s: users.reset_password(
        session=s, actor=admin.actor, login=login, password=password,
        min_password_length=admin.config.security.min_password_length))
    done(_("Password of {login} reset; it must be changed at next login.").format(login=login))
    if password is None:
        done(_("One-time password: {pw}").format(pw=one_time))


@station_app.command("add", help=_("Add a terminal station."))
def station_add(
    ctx: typer.Context, name: str,
    desk_phone: str | None = typer.Option(
        None, "--desk-phone", metavar="SIP_URI", help=_("The station's desk phone.")),
) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: stations.add_station(
        session=s, actor=admin.actor, data=StationCreate(name=name, desk_phone_uri=desk_phone)))
    done(_("Station {name} added.").format(name=name))


@station_app.command("list", help=_("List stations."))
def station_list(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    with admin.read() as s:
        rows = stations.list_stations(session=s, actor=admin.actor)
    print_rows([_("name"), _("desk phone")], [[r.name, r.desk_phone_uri or "-"] for r in rows])


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(station_app, name="station")
