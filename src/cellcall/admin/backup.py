"""``backup OUT``: an online copy of the live SQLite database, checked before it is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from cellcall.admin.context import ctx_of, done, err_console
from cellcall.i18n import _
from cellcall.services import backup


def backup_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(metavar="OUT", help=_("The backup file to write."))],
    force: Annotated[bool, typer.Option("--force", help=_("Overwrite OUT if it exists."))] = False,
) -> None:
    admin = ctx_of(ctx)
    # Refuse another database kind before connecting to it (its driver may be absent).
    backup.sqlite_file_of(admin.config.database_url)
    engine = admin.engine()
    with Progress(
        TextColumn("{task.description}"), BarColumn(),
        MofNCompleteColumn(), TextColumn(_("pages")), TimeRemainingColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(_("Backing up"), total=None)

        def on_progress(copied: int, total: int) -> None:
            bar.update(task, completed=copied, total=total)

        result = backup.backup_database(
            engine=engine, actor=admin.actor, out=out, force=force,
            busy_timeout_ms=admin.config.database.busy_timeout_ms, progress=on_progress)
    done(_("Backup written to {path} ({size} bytes, {pages} pages, integrity ok).").format(
        path=result.path, size=result.size, pages=result.pages))


def register(app: typer.Typer) -> None:
    app.command("backup", help=_("Back up the live database (SQLite backup API) while stations "
                                 "keep working."))(backup_command)
