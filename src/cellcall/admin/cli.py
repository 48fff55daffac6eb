"""The ``cellcall-admin`` entry point: global options, sub-commands, error handling.

Every failure ends as one clear line on stderr and a non-zero exit, never a traceback:
``1`` for a refusal (bad input, not found, not allowed), ``2`` for a usage error,
``70`` for an internal error (the traceback goes to a log file, named in the message).
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import datetime
from pathlib import Path

import typer
from typer import TyperException

from cellcall.admin import accounts, campaigns, maintenance
from cellcall.admin import backup as backup_cmd
from cellcall.admin import contacts as contacts_cmd
from cellcall.admin import exclusions as exclusions_cmd
from cellcall.admin import recordings as recordings_cmd
from cellcall.admin import scorecards as scorecards_cmd
from cellcall.admin import site as site_cmd
from cellcall.admin import timesheets as timesheets_cmd
from cellcall.admin.context import AdminContext, ctx_of, done
from cellcall.admin.usage_errors import translate_usage_error
from cellcall.config import default_data_dir
from cellcall.errors import CellcallError
from cellcall.i18n import _
from cellcall.services import schema

app = typer.Typer(
    name="cellcall-admin",
    help=_("cellcall's maintenance commands, for the site's admins."),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    db: str | None = typer.Option(
        None, "--db", envvar="CELLCALL_DB", metavar="PATH_OR_URL",
        help=_("Database: a SQLite file path or a database URL.")),
    config: str | None = typer.Option(
        None, "--config", envvar="CELLCALL_CONFIG", metavar="FILE",
        help=_("Configuration file (TOML).")),
) -> None:
    ctx.obj = AdminContext(config_path=config, db=db)


@app.command("init", help=_("Create the database, or upgrade it to this version's schema."))
def init_command(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    engine = admin.engine(check_schema=False)
    before, after = schema.init_schema(engine)
    from cellcall.services import audit

    if before != after:
        admin.write(lambda s: audit.record(
            session=s, actor=admin.actor, action="schema.init" if before is None
            else "schema.upgrade", details={"from": before, "to": after}))
        done(_("Database ready at schema {rev}.").format(rev=after))
    else:
        done(_("Database already at schema {rev}; nothing to do.").format(rev=after))


accounts.register(app)
campaigns.register(app)
maintenance.register(app)
backup_cmd.register(app)
contacts_cmd.register(app)
recordings_cmd.register(app)
exclusions_cmd.register(app)
timesheets_cmd.register(app)
scorecards_cmd.register(app)
site_cmd.register(app)


def _log_internal_error() -> Path | None:
    try:
        log_dir = default_data_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "cellcall-admin.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now().isoformat()} {' '.join(sys.argv)}\n")
            fh.write(traceback.format_exc())
        return path
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Run a command; return (and exit with) its status."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        result = app(args=argv, standalone_mode=False, prog_name="cellcall-admin")
        code = result if isinstance(result, int) else 0
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            code = 2
        else:
            # click lays some messages out on several lines (choices): keep one line.
            message = translate_usage_error(" ".join(exc.format_message().split()))
            print(_("cellcall-admin: {error}").format(error=message), file=sys.stderr)
            code = int(getattr(exc, "exit_code", 2) or 2)
    except typer.Abort:
        print(_("cellcall-admin: aborted; nothing was written."), file=sys.stderr)
        code = 1
    except typer.Exit as exc:
        code = exc.exit_code
    except CellcallError as exc:
        print(_("cellcall-admin: error: {error}").format(error=exc), file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(_("cellcall-admin: interrupted; nothing was written."), file=sys.stderr)
        code = 130
    except Exception as exc:  # the last line of defence: no traceback reaches the admin
        where = _log_internal_error()
        print(_("cellcall-admin: internal error ({kind}); nothing was written. "
                "Details: {log}").format(kind=type(exc).__name__, log=where or "-"),
              file=sys.stderr)
        code = 70
    return code


def run() -> None:
    sys.exit(main())
