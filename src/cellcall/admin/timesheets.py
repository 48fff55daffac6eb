"""``timesheet`` commands: hours and gross pay per operator, and the payroll export."""

from __future__ import annotations

from pathlib import Path

import typer

from cellcall.admin.context import ctx_of, done, print_rows
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.timeclock import PauseReason
from cellcall.services import timesheets

timesheet_app = typer.Typer(help=_("Operators' hours and gross pay."), no_args_is_help=True)


def _clock(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


@timesheet_app.command(
    "export", help=_("Write a month's payroll CSV, one row per operator (for a French "
                     "spreadsheet)."))
def timesheet_export(
    ctx: typer.Context,
    month: str = typer.Option(..., "--month", metavar="YYYY-MM", help=_("Month to export.")),
    out: str = typer.Option(..., "--out", metavar="FILE.csv", help=_("Output CSV file.")),
) -> None:
    admin = ctx_of(ctx)
    timesheets.parse_month(month)  # a bad month is refused before the database is opened
    result = timesheets.export_month(engine=admin.engine(), actor=admin.actor,
                                     config=admin.config, month=month, out=Path(out))
    done(_("Timesheet of {month} written to {path}: {n} operators, {hours} hours, gross pay "
           "{pay} EUR at {wage} EUR an hour.").format(
               month=result.month, path=result.path, n=result.operators,
               hours=timesheets.decimal_comma(result.work_hours),
               pay=timesheets.decimal_comma(result.gross_pay_eur),
               wage=timesheets.decimal_comma(result.hourly_wage_eur)))


@timesheet_app.command(
    "show", help=_("Show work time, pauses by reason and gross pay per operator (hours as h:mm)."))
def timesheet_show(
    ctx: typer.Context,
    month: str | None = typer.Option(None, "--month", metavar="YYYY-MM",
                                     help=_("A month.")),
    week: str | None = typer.Option(None, "--week", metavar="YYYY-Www",
                                    help=_("An ISO week (or any day of it, YYYY-MM-DD).")),
    day: str | None = typer.Option(None, "--day", metavar="YYYY-MM-DD", help=_("A day.")),
    operator: str | None = typer.Option(None, "--operator", metavar="LOGIN",
                                        help=_("Only this operator.")),
) -> None:
    given = [(name, value) for name, value in (("month", month), ("week", week), ("day", day))
             if value is not None]
    if len(given) != 1:
        raise ValidationError(_("Give exactly one of --month, --week or --day."))
    period, text = given[0]
    parse = {"month": timesheets.parse_month, "week": timesheets.parse_week,
             "day": timesheets.parse_day}[period]
    anchor = parse(text)
    admin = ctx_of(ctx)
    with admin.read() as session:
        rows = timesheets.timesheet(session=session, actor=admin.actor, config=admin.config,
                                    period=period, anchor=anchor, operator_login=operator)
    reasons = [str(r) for r in PauseReason]
    print_rows(
        [_("login"), _("name"), _("period"), _("work")]
        + [timesheets.pause_reason_label(r) for r in reasons] + [_("gross pay (EUR)")],
        [[r.operator_login, r.operator_name, r.period_label, _clock(r.work_seconds)]
         + [_clock(r.pause_seconds.get(reason, 0.0)) for reason in reasons]
         + [f"{r.gross_pay_eur:.2f}"] for r in rows])


def register(app: typer.Typer) -> None:
    app.add_typer(timesheet_app, name="timesheet")
