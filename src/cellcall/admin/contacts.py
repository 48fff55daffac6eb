"""``contacts import``, ``dnc import``, ``results export`` and ``demo`` commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from cellcall.admin.context import ctx_of, done, err_console
from cellcall.admin.two_person import PASSWORD_STDIN_HELP, SECOND_LOGIN_HELP, second_person
from cellcall.i18n import _, ngettext
from cellcall.services import demo, dnc, exports, imports
from cellcall.untrusted import inert

contacts_app = typer.Typer(help=_("Contacts of campaigns."), no_args_is_help=True)
dnc_app = typer.Typer(help=_("Do-not-call lists."), no_args_is_help=True)
results_app = typer.Typer(help=_("Campaign results."), no_args_is_help=True)

ProgressFn = Callable[[str, int, int | None], None]


@contextmanager
def _progress() -> Iterator[ProgressFn | None]:
    """A progress bar on stderr when it is a terminal; nothing for scripts and logs."""
    if not err_console.is_terminal:
        yield None
        return
    labels = {"check": _("Checking"), "write": _("Writing"), "read": _("Reading")}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done_rows: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(labels.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done_rows,
                       total=max(total, done_rows) if total is not None else None)

        yield update


def import_summary_line(summary: imports.ImportSummary) -> str:
    counts = _("{read} rows read: {imported} imported, {rejected} rejected, "
               "{duplicate} duplicate, {dnc} on the do-not-call list").format(
                   read=summary.rows_read, imported=summary.imported,
                   rejected=summary.rejected, duplicate=summary.duplicate, dnc=summary.dnc)
    if summary.dry_run:
        line = _("Dry run of {file} into {slug}, nothing written: {counts}.").format(
            file=summary.file, slug=summary.campaign, counts=counts)
    else:
        line = _("Imported {file} into {slug}: {counts}.").format(
            file=summary.file, slug=summary.campaign, counts=counts)
    if summary.without_consent:
        line += " " + _(
            "{n} of them have neither prior consent nor a contract: not callable "
            "(loi 2025-594, since 11 Aug 2026).").format(n=summary.without_consent)
    if summary.dry_run:
        line += " " + _("Checked in {check:.1f} s.").format(check=summary.check_seconds)
    else:
        line += " " + _("Checked in {check:.1f} s, written in {write:.1f} s.").format(
            check=summary.check_seconds, write=summary.write_seconds)
    not_imported = summary.rejected + summary.duplicate + summary.dnc
    if summary.rejects_file is not None and not_imported:
        line += " " + _("Rows not imported: {path}.").format(path=summary.rejects_file)
    elif not_imported:
        line += " " + _("Use --rejects FILE.csv to get the rows not imported.")
    return line


@contacts_app.command(
    "import", help=_("Import contacts from a client's CSV or XLSX file: all rows or nothing."))
def contacts_import(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help=_("Campaign.")),
    file: str = typer.Argument(..., metavar="FILE", help=_("CSV or XLSX file.")),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help=_("Check the file and write nothing.")),
    rejects: str | None = typer.Option(
        None, "--rejects", metavar="OUT.csv",
        help=_("Write the rows not imported, with line number and reason, to this file.")),
    workers: int | None = typer.Option(
        None, "--workers", envvar="CELLCALL_IMPORT_WORKERS", hidden=True,
        help=_("Worker processes for checking (default: automatic).")),
) -> None:
    admin = ctx_of(ctx)
    engine = admin.engine()
    with _progress() as progress:
        summary = imports.import_contacts(
            engine=engine, actor=admin.actor, slug=slug, path=Path(file), dry_run=dry_run,
            rejects_path=Path(rejects) if rejects else None, progress=progress,
            site_timezone=admin.config.site.timezone, workers=workers)
    done(import_summary_line(summary))


@dnc_app.command(
    "import", help=_("Add numbers that must never be called (national lists, people who asked)."))
def dnc_import(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE",
                               help=_("Text file (one number a line), CSV or XLSX.")),
    source: str = typer.Option(dnc.DEFAULT_SOURCE, "--source", metavar="NAME",
                               help=_("Name of the list, e.g. bloctel, or ne-m-appelez-plus "
                                      "for the Belgian list the calling rules check.")),
    country: str = typer.Option("FR", "--country", metavar="CC",
                                help=_("Country of numbers written without +.")),
) -> None:
    admin = ctx_of(ctx)
    admin.engine()
    with _progress() as progress:
        checked = dnc.check_dnc_file(path=Path(file), default_region=country,
                                     progress=progress)
    summary = admin.write(lambda s: dnc.write_dnc(
        session=s, actor=admin.actor, checked=checked, source=source))
    line = _("Do-not-call list {source}: {read} numbers read, {added} added, "
             "{known} already listed, {repeated} repeated, {invalid} invalid.").format(
                 source=summary.source, read=summary.rows_read, added=summary.rows_added,
                 known=summary.already_listed, repeated=summary.repeated,
                 invalid=summary.invalid)
    done(line)
    for bad in summary.invalid_lines:
        done(_("  line {line}: {reason}: {text}").format(
            line=bad.line, reason=bad.reason, text=inert(bad.text, max_length=60)))
    if summary.invalid > len(summary.invalid_lines):
        more = summary.invalid - len(summary.invalid_lines)
        done(ngettext("  … and {n} more invalid line.", "  … and {n} more invalid lines.",
                      more).format(n=more))


@results_app.command(
    "export", help=_("Export a campaign's results, one line per contact (CSV for Excel).\n\n"
           "With the phone numbers, a second admin or supervisor confirms (two-person rule)."))
def results_export(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help=_("Campaign.")),
    out: str = typer.Option(..., "--out", metavar="FILE.csv", help=_("Output CSV file.")),
    without_numbers: bool = typer.Option(
        False, "--without-numbers", help=_("Leave phone numbers out (e.g. for the client).")),
    second_login: str | None = typer.Option(None, "--second-login", metavar="LOGIN",
                                            help=SECOND_LOGIN_HELP),
    second_password_stdin: bool = typer.Option(False, "--second-password-stdin",
                                               help=PASSWORD_STDIN_HELP),
) -> None:
    admin = ctx_of(ctx)
    second = None if without_numbers else second_person(admin, second_login,
                                                        second_password_stdin)
    summary = exports.export_results(
        engine=admin.engine(), actor=admin.actor, slug=slug, out=Path(out),
        include_numbers=not without_numbers, site_timezone=admin.config.site.timezone,
        second_person=second)
    done(ngettext("Exported {n} contact of {slug} to {path}{numbers}.",
                  "Exported {n} contacts of {slug} to {path}{numbers}.", summary.rows).format(
        n=summary.rows, slug=slug, path=summary.path,
        numbers="" if summary.with_numbers else _(" (without phone numbers)")))


def demo_command(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    summary = demo.load_demo_site(engine=admin.engine(), actor=admin.actor,
                                  site_timezone=admin.config.site.timezone)
    done(_("Demo site loaded: campaigns {campaigns}, {contacts} contacts, users {users} "
           "(password {password}).").format(
               campaigns=", ".join(summary.campaigns), contacts=summary.contacts,
               users=", ".join(summary.users), password=demo.DEMO_PASSWORD))


def register(app: typer.Typer) -> None:
    app.add_typer(contacts_app, name="contacts")
    app.add_typer(dnc_app, name="dnc")
    app.add_typer(results_app, name="results")
    app.command("demo", help=_("Load the demo site: client, two campaigns, station demo-1, "
                               "demo users."))(demo_command)
