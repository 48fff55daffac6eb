"""Timesheets from the time entries (local days, midnight and DST, open entries), the
payroll export (French spreadsheet CSV, defused cells, all or nothing) and `show`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from cellcall.config import Config, SiteConfig
from cellcall.db import read_session, run_write
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.services import timeclock, timesheets
from cellcall.services.actors import shell_admin
from contacts_support import read_csv
from foundation_support import assert_refused, snapshot
from quality_support import QualitySite, audit_actions, quality_fixtures

CONFIG = Config(site=SiteConfig(timezone="Europe/Paris", hourly_wage_eur=5.0))
AFTER = datetime(2026, 11, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _two_shifts_of_olga(site: QualitySite) -> None:
    engine = site.engine()
    olga = site.actor("olga")

    def step(fn: object, **kwargs: object) -> None:
        run_write(engine, lambda s: fn(session=s, actor=olga, **kwargs))  # type: ignore[operator]

    # Thursday 10 Sept: 22:00 to 01:00 Paris time, a 15-minute break; then Monday 14th.
    step(timeclock.clock_in, station_id=None, now=at("2026-09-10T20:00"))
    step(timeclock.start_pause, reason="break", now=at("2026-09-10T21:00"))
    step(timeclock.end_pause, now=at("2026-09-10T21:15"))
    step(timeclock.clock_out, now=at("2026-09-10T23:00"))
    step(timeclock.clock_in, station_id=None, now=at("2026-09-14T07:00"))
    step(timeclock.start_pause, reason="meal", now=at("2026-09-14T11:00"))
    step(timeclock.end_pause, now=at("2026-09-14T11:45"))
    step(timeclock.clock_out, now=at("2026-09-14T15:00"))
    engine.dispose()


template, site, engine = quality_fixtures("timesheets", _two_shifts_of_olga)


def _sheet(engine: Engine, site: QualitySite, period: str, anchor: date, *,
           who: str = "sam", login: str | None = None,
           now: datetime = AFTER) -> dict[str, timesheets.TimesheetRow]:
    with read_session(engine) as s:
        rows = timesheets.timesheet(session=s, actor=site.actor(who), config=CONFIG,
                                    period=period, anchor=anchor, operator_login=login,
                                    now=now)
    return {r.operator_login: r for r in rows}


def test_day_week_and_month(site: QualitySite, engine: Engine) -> None:
    day = _sheet(engine, site, "day", date(2026, 9, 10))
    olga = day["olga"]
    assert olga.period_label == "2026-09-10"
    assert olga.work_seconds == 6300  # cut at local midnight (22:00 UTC)
    assert olga.pause_seconds == {"break": 900, "meal": 0, "training": 0, "technical": 0}
    assert day["omar"].work_seconds == 0  # every active operator has a row
    assert set(day) == {"olga", "omar"}  # supervisors and admins are not on it
    assert _sheet(engine, site, "day", date(2026, 9, 11))["olga"].work_seconds == 3600

    week = _sheet(engine, site, "week", date(2026, 9, 10))["olga"]
    assert week.period_label == "2026-W37"
    assert (week.first_day, week.last_day) == (date(2026, 9, 7), date(2026, 9, 13))
    assert week.work_seconds == 9900

    month = _sheet(engine, site, "month", date(2026, 9, 30))["olga"]
    assert month.period_label == "2026-09"
    assert month.work_seconds == 36000  # 2h45 + 7h15
    assert month.pause_seconds["meal"] == 2700 and month.pause_seconds["break"] == 900
    assert month.gross_pay_eur == 50.0
    assert _sheet(engine, site, "month", date(2026, 8, 1))["olga"].work_seconds == 0


def test_an_open_entry_counts_until_now_and_not_beyond(site: QualitySite,
                                                      engine: Engine) -> None:
    omar = site.actor("omar")
    run_write(engine, lambda s: timeclock.clock_in(session=s, actor=omar, station_id=None,
                                                   now=at("2026-09-15T06:00")))
    row = _sheet(engine, site, "day", date(2026, 9, 15), now=at("2026-09-15T09:30"))["omar"]
    assert row.work_seconds == 3.5 * 3600
    assert row.gross_pay_eur == 17.5
    later = _sheet(engine, site, "month", date(2026, 9, 1), now=at("2026-09-15T10:00"))
    assert later["omar"].work_seconds == 4 * 3600
    assert _sheet(engine, site, "day", date(2026, 9, 16),
                  now=at("2026-09-15T10:00"))["omar"].work_seconds == 0


def test_the_autumn_clock_change_day_has_25_hours(site: QualitySite, engine: Engine) -> None:
    omar = site.actor("omar")
    run_write(engine, lambda s: timeclock.clock_in(session=s, actor=omar, station_id=None,
                                                   now=at("2026-10-24T22:00")))
    run_write(engine, lambda s: timeclock.clock_out(session=s, actor=omar,
                                                    now=at("2026-10-25T23:00")))
    assert _sheet(engine, site, "day", date(2026, 10, 25))["omar"].work_seconds == 25 * 3600
    assert _sheet(engine, site, "day", date(2026, 10, 24))["omar"].work_seconds == 0


def test_who_sees_which_timesheet(site: QualitySite, engine: Engine) -> None:
    own = _sheet(engine, site, "month", date(2026, 9, 1), who="olga", login="olga")
    assert list(own) == ["olga"] and own["olga"].work_seconds == 36000
    with pytest.raises(PermissionDeniedError):
        _sheet(engine, site, "month", date(2026, 9, 1), who="olga", login="omar")
    with pytest.raises(PermissionDeniedError):
        _sheet(engine, site, "month", date(2026, 9, 1), who="olga")
    with pytest.raises(ValidationError, match="not an operator"):
        _sheet(engine, site, "month", date(2026, 9, 1), login="sue")
    with pytest.raises(NotFoundError):
        _sheet(engine, site, "month", date(2026, 9, 1), login="nobody")
    with pytest.raises(ValidationError, match="Unknown period"):
        _sheet(engine, site, "year", date(2026, 9, 1))


@pytest.mark.parametrize(("fn", "text", "expected"), [
    (timesheets.parse_month, "2026-09", date(2026, 9, 1)),
    (timesheets.parse_week, "2026-W37", date(2026, 9, 7)),
    (timesheets.parse_week, "2026-09-10", date(2026, 9, 7)),
    (timesheets.parse_day, " 2026-09-10 ", date(2026, 9, 10)),
])
def test_period_parsing(fn: object, text: str, expected: date) -> None:
    assert fn(text) == expected  # type: ignore[operator]


# --- the payroll export -------------------------------------------------------------------

def _config_file(tmp_path: Path, wage: str = "11.88") -> str:
    path = tmp_path / "site.toml"
    path.write_text(f'[site]\ntimezone = "Europe/Paris"\nhourly_wage_eur = {wage}\n',
                    encoding="utf-8")
    return str(path)


def test_export_for_a_french_spreadsheet(admin, site: QualitySite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "paie-2026-09.csv"
    result = admin("--config", _config_file(tmp_path), "timesheet", "export",
                   "--month", "2026-09", "--out", str(out))
    assert result.code == 0, result.err
    assert "2 operators" in result.out and "118,80" in result.out
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the accents right
    lines = read_csv(out)
    assert lines[0] == ["login", "name", "month", "work hours", "pause hours: break",
                        "pause hours: meal", "pause hours: training",
                        "pause hours: technical", "hourly wage (EUR)", "gross pay (EUR)"]
    by_login = {line[0]: line for line in lines[1:]}
    assert by_login["olga"] == ["olga", "Olga Petrova", "2026-09", "10,00", "0,25", "0,75",
                                "0,00", "0,00", "11,88", "118,80"]
    assert by_login["omar"][1] == "'=Omar+1"  # a formula in a name is defused
    assert by_login["omar"][3] == "0,00"
    assert b";" in raw.splitlines()[1]
    exported = audit_actions(site.path, "timesheet.export")
    assert len(exported) == 1
    actor, target, details = exported[0]
    assert actor == shell_admin().login and target == "2026-09"
    assert json.loads(details) == {"file": out.name, "operators": 2,
                                   "hourly_wage_eur": "11.88", "gross_pay_eur": "118.80"}


@pytest.mark.parametrize("case", ["2026-13", "2026-9", "sept", "0000-01", "9999-12",
                                  "missing-folder", "out-is-a-folder", "existing-kept"])
def test_bad_exports_write_nothing(admin, site: QualitySite, tmp_path: Path,  # type: ignore[no-untyped-def]
                                   case: str) -> None:
    out = tmp_path / "t.csv"
    month = "2026-09"
    if case == "missing-folder":
        out = tmp_path / "no" / "t.csv"
    elif case == "out-is-a-folder":
        out = tmp_path
    elif case == "existing-kept":
        out.write_text("last month\n", encoding="utf-8")
        month = "2026-00"
    else:
        month = case
    before = snapshot(site.path)
    result = admin("timesheet", "export", "--month", month, "--out", str(out))
    assert_refused(result, before=before, db=site.path)
    if case == "existing-kept":
        assert out.read_text(encoding="utf-8") == "last month\n"
    else:
        assert not out.is_file()
    if out.parent.is_dir():
        assert list(out.parent.glob(".t.csv*")) == []  # no temporary file left behind
    assert audit_actions(site.path, "timesheet.export") == []


def test_show(admin, site: QualitySite) -> None:  # type: ignore[no-untyped-def]
    month = admin("timesheet", "show", "--month", "2026-09")
    assert month.code == 0, month.err
    lines = month.out.splitlines()
    assert lines[0].split("\t")[:4] == ["login", "name", "period", "work"]
    olga = next(line.split("\t") for line in lines if line.startswith("olga"))
    assert olga == ["olga", "Olga Petrova", "2026-09", "10:00", "0:15", "0:45", "0:00",
                    "0:00", "50.00"]
    day = admin("timesheet", "show", "--day", "2026-09-10", "--operator", "olga")
    assert day.code == 0 and day.out.splitlines()[1].split("\t")[3] == "1:45"
    week = admin("timesheet", "show", "--week", "2026-W37", "--operator", "olga")
    assert week.code == 0 and week.out.splitlines()[1].split("\t")[3] == "2:45"
    for args in ([], ["--month", "2026-09", "--day", "2026-09-10"], ["--week", "2026-W99"],
                 ["--day", "2026-02-30"], ["--month", "2026-09", "--operator", "nobody"]):
        assert_refused(admin("timesheet", "show", *args))


def test_only_an_admin_exports_the_payroll(site: QualitySite, engine: Engine,
                                           tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    for who in ("sam", "olga"):
        with pytest.raises(PermissionDeniedError):
            timesheets.export_month(engine=engine, actor=site.actor(who), config=CONFIG,
                                    month="2026-09", out=out)
    assert not out.exists() and audit_actions(site.path, "timesheet.export") == []
