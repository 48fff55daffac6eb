"""The site's controls from the server shell: ``stop-all``, ``lift-stop``,
``station assign|unassign|assignments`` and ``callbacks reassign``.

Each command is one transaction through ``services/site_controls.py`` (audited there): on
bad input, one line on stderr, a non-zero exit, nothing written.
"""

from __future__ import annotations

import typer

from cellcall.admin.accounts import station_app
from cellcall.admin.context import ctx_of, done, print_rows
from cellcall.i18n import _, ngettext
from cellcall.services import site_controls

callbacks_app = typer.Typer(help=_("Personal callbacks."), no_args_is_help=True)


def stop_all(
    ctx: typer.Context,
    reason: str = typer.Option(..., "--reason", help=_("Why the site stops (audited).")),
) -> None:
    admin = ctx_of(ctx)
    stop = admin.write(lambda s: site_controls.start_site_stop(session=s, actor=admin.actor,
                                                               reason=reason))
    done(_("Site stop in force since {time} UTC: {reason}").format(
        time=stop.started_at.strftime("%Y-%m-%d %H:%M:%S"), reason=stop.reason))


def lift_stop(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    stop = admin.write(lambda s: site_controls.lift_site_stop(session=s, actor=admin.actor))
    done(_("Site stop lifted (it was in force since {time} UTC).").format(
        time=stop.started_at.strftime("%Y-%m-%d %H:%M:%S")))


@station_app.command(
    "assign", help=_("Allow an operator to log in at a station (operators log in only where "
                     "assigned)."))
def station_assign(
    ctx: typer.Context,
    login: str = typer.Argument(..., help=_("The operator's login.")),
    station: str = typer.Argument(..., help=_("The station's name.")),
) -> None:
    admin = ctx_of(ctx)
    view = admin.write(lambda s: site_controls.assign_station(
        session=s, actor=admin.actor, login=login, station_name=station))
    done(_("{login} may now log in at {station}.").format(login=view.login,
                                                          station=view.station_name))


@station_app.command("unassign", help=_("Withdraw an operator's right to log in at a station."))
def station_unassign(
    ctx: typer.Context,
    login: str = typer.Argument(..., help=_("The operator's login.")),
    station: str = typer.Argument(..., help=_("The station's name.")),
) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: site_controls.unassign_station(
        session=s, actor=admin.actor, login=login, station_name=station))
    done(_("{login} may no longer log in at {station}.").format(login=login.strip().lower(),
                                                                station=station))


@station_app.command("assignments", help=_("List which operator may log in at which station."))
def station_assignments(
    ctx: typer.Context,
    login: str | None = typer.Argument(None, help=_("Only this operator.")),
) -> None:
    admin = ctx_of(ctx)
    with admin.read() as s:
        rows = site_controls.list_assignments(session=s, actor=admin.actor, login=login)
    print_rows([_("login"), _("name"), _("station"), _("since")],
               [[r.login, r.display_name, r.station_name,
                 r.assigned_at.strftime("%Y-%m-%d")] for r in rows])


@callbacks_app.command(
    "reassign", help=_("Give a missing operator's pending personal callbacks to another "
                       "operator, or to anyone."))
def callbacks_reassign(
    ctx: typer.Context,
    from_login: str = typer.Option(..., "--from", metavar="LOGIN",
                                   help=_("The operator whose personal callbacks move.")),
    to_login: str | None = typer.Option(None, "--to", metavar="LOGIN",
                                        help=_("The operator who takes them (default: "
                                               "anyone).")),
) -> None:
    admin = ctx_of(ctx)
    moved = admin.write(lambda s: site_controls.reassign_callbacks(
        session=s, actor=admin.actor, from_login=from_login, to_login=to_login))
    if to_login is None:
        done(ngettext("{n} personal callback of {login} may now go to any operator.",
                      "{n} personal callbacks of {login} may now go to any operator.",
                      moved).format(n=moved, login=from_login.strip().lower()))
    else:
        done(ngettext("{n} personal callback of {login} moved to {to}.",
                      "{n} personal callbacks of {login} moved to {to}.",
                      moved).format(n=moved, login=from_login.strip().lower(),
                                    to=to_login.strip().lower()))


def register(app: typer.Typer) -> None:
    app.command("stop-all", help=_("Stop every call in progress and all dialing on the site "
                                   "until lifted."))(stop_all)
    app.command("lift-stop", help=_("Lift the site stop: stations may dial again."))(lift_stop)
    app.add_typer(callbacks_app, name="callbacks")
