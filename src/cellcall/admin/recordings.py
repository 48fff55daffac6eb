"""``recordings`` commands: the retention of call recordings."""

from __future__ import annotations

import typer

from cellcall.admin.context import ctx_of, done
from cellcall.admin.two_person import PASSWORD_STDIN_HELP, SECOND_LOGIN_HELP, second_person
from cellcall.i18n import _
from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.recordings import purge_recordings, recordings_root

recordings_app = typer.Typer(help=_("Call recordings."), no_args_is_help=True)


@recordings_app.command(
    "purge", help=_("Delete call recordings older than the retention period (audited).\n\n"
           "A second admin or supervisor confirms (two-person rule); a dry run needs nobody."))
def recordings_purge(
    ctx: typer.Context,
    days: int | None = typer.Option(None, "--days", min=1, help=_(
        "Keep recordings of the last DAYS days (default: [telephony] "
        "recording_retention_days).")),
    dry_run: bool = typer.Option(False, "--dry-run", help=_("Only count what would go.")),
    second_login: str | None = typer.Option(None, "--second-login", metavar="LOGIN",
                                            help=SECOND_LOGIN_HELP),
    second_password_stdin: bool = typer.Option(False, "--second-password-stdin",
                                               help=PASSWORD_STDIN_HELP),
) -> None:
    admin = ctx_of(ctx)
    second = None if dry_run else second_person(admin, second_login, second_password_stdin)
    tcfg = getattr(admin.config, "telephony", None)
    if not isinstance(tcfg, TelephonyConfig):
        tcfg = TelephonyConfig()
    root = recordings_root(admin.config, tcfg.recordings_dir)
    result = purge_recordings(engine=admin.engine(), actor=admin.actor, root=root,
                              retention_days=days or tcfg.recording_retention_days,
                              dry_run=dry_run, second_person=second)
    message = (_("{files} recordings ({mb:.1f} MB) ended before {cutoff} would be deleted.")
               if dry_run else
               _("{files} recordings ({mb:.1f} MB) ended before {cutoff} deleted."))
    done(message.format(files=result.files, mb=result.bytes / 1_000_000,
                        cutoff=result.cutoff.strftime("%Y-%m-%d %H:%M UTC")))


def register(app: typer.Typer) -> None:
    app.add_typer(recordings_app, name="recordings")
