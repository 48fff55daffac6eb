"""Results export: one line per contact, numbers only for admins, formulas defused,
never a partial file."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cellcall.db import make_engine, run_write
from cellcall.errors import PermissionDeniedError
from cellcall.models.calls import (
    Appointment,
    CallAttempt,
    Outcome,
    SurveyAnswer,
    VerificationCorrection,
)
from cellcall.models.contacts import Contact
from cellcall.models.users import Role, User, UserCreate
from cellcall.services import auth, exports, imports, users
from cellcall.services.actors import Actor, shell_admin
from cellcall.services.tabular import neutralize_cell
from contacts_support import read_csv, write_csv
from foundation_support import assert_refused, audit_rows, build_site, snapshot

# The second person of the two-person rule: an active supervisor with her own password.
CAROL_PASSWORD = "carol-secret-42"
SECOND = ("--second-login", "carol", "--second-password-stdin")


def _add_carol(engine: Engine) -> None:
    user, one_time = run_write(engine, lambda s: users.add_user(
        session=s, actor=shell_admin(), data=UserCreate(login="carol", display_name="Carol",
                                                        role=Role.SUPERVISOR)))
    auth.change_password(engine=engine, user_id=user.id or 0, old_password=one_time,
                         new_password=CAROL_PASSWORD)


def _outcome(session: Session, contact: Contact, operator: User, disposition: str,
             at: datetime, notes: str = "") -> Outcome:
    attempt = CallAttempt(contact_id=contact.id or 0, campaign_id=contact.campaign_id,
                          operator_id=operator.id or 0, phone_e164=contact.phone_e164,
                          state="ended", claimed_at=at, ended_at=at)
    session.add(attempt)
    session.flush()
    outcome = Outcome(attempt_id=attempt.id or 0, contact_id=contact.id or 0,
                      operator_id=operator.id or 0, disposition=disposition, notes=notes,
                      created_at=at)
    session.add(outcome)
    session.flush()
    contact.attempts += 1
    session.add(contact)
    return outcome


def _results(session: Session) -> None:
    operator = session.exec(select(User).where(User.login == "alice")).one()
    by_ref = {c.external_ref: c for c in session.exec(select(Contact)).all()}
    t0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    _outcome(session, by_ref["A"], operator, "no_answer", t0)
    done = _outcome(session, by_ref["A"], operator, "appointment_set", t0 + timedelta(hours=2),
                    notes="=HYPERLINK(\"http://evil\",\"clic\")")
    session.add(Appointment(campaign_id=by_ref["A"].campaign_id, contact_id=by_ref["A"].id or 0,
                            outcome_id=done.id or 0, slot_start=t0 + timedelta(days=2),
                            slot_end=t0 + timedelta(days=2, minutes=30)))
    survey = _outcome(session, by_ref["B"], operator, "completed", t0, notes="Très content")
    session.add(SurveyAnswer(outcome_id=survey.id or 0, contact_id=by_ref["B"].id or 0,
                             question_key="satisfaction", answer=4))
    session.add(SurveyAnswer(outcome_id=survey.id or 0, contact_id=by_ref["B"].id or 0,
                             question_key="langue", answer="ru"))
    session.add(VerificationCorrection(outcome_id=survey.id or 0, contact_id=by_ref["B"].id or 0,
                                       field_name="last_name", original_value="Petrof",
                                       corrected_value="Petrov"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    path = build_site(folder / "template.sqlite3")
    contacts = write_csv(folder / "c.csv", ["ref", "prénom", "nom", "société", "tel", "ville"], [
        ["A", "Hélène", "Dupré", "@SUM(A1)", "06 12 34 56 78", "-2+3"],
        ["B", "Ivan", "Petrov", "", "+7 912 345 67 89", "Москва"],
        ["C", "+Zoé", "-Tab", "Cie", "06 12 34 56 79", ""],
    ])
    engine = make_engine(f"sqlite:///{path}")
    imports.import_contacts(engine=engine, actor=shell_admin(), slug="camp-1", path=contacts)
    run_write(engine, _results)
    _add_carol(engine)
    engine.dispose()
    return path



def test_admin_export_has_numbers_and_everything_per_contact(admin, site: Path,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = admin("results", "export", "camp-1", "--out", str(out), *SECOND,
                   stdin=CAROL_PASSWORD + "\n")
    assert result.code == 0, result.err
    assert "Exported 3 contacts of camp-1" in result.out
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the accents right
    rows = read_csv(out)
    header = rows[0]
    assert header == list(exports.COLUMNS)
    lines = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    a, b, c = lines["A"], lines["B"], lines["C"]
    assert a["phone"] == "+33612345678" and b["phone"] == "+79123456789"
    assert (a["first_name"], a["last_name"]) == ("Hélène", "Dupré")
    assert a["attempts"] == "2"
    assert a["last_disposition"] == "appointment_set"
    assert a["last_outcome_at"] == "2026-09-01T12:00+02:00"  # site time (Europe/Paris)
    assert a["last_operator"] == "alice"
    assert a["appointment"] == "2026-09-03T10:00+02:00 / 2026-09-03T10:30+02:00"
    assert json.loads(b["survey_answers"]) == {"langue": "ru", "satisfaction": 4}
    assert b["corrections"] == "last_name: Petrof -> Petrov"
    assert b["notes"] == "Très content"
    assert json.loads(b["custom_fields"]) == {"ville": "Москва"}
    assert c["last_disposition"] == "" and c["attempts"] == "0"
    last = audit_rows(site)[-1]
    assert last[2] == "results.export" and last[3] == "camp-1"
    assert json.loads(last[4]) == {"file": "results.csv", "rows": 3, "with_numbers": True,
                                   "second_person": "carol"}


def test_formulas_are_defused(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.csv"
    assert admin("results", "export", "camp-1", "--out", str(out), *SECOND,
                 stdin=CAROL_PASSWORD + "\n").code == 0
    rows = {r[0]: r for r in read_csv(out)[1:]}
    cells = [cell for row in rows.values() for cell in row]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")
                 and not c[1:].isdigit()]
    assert dangerous == []
    assert "'=HYPERLINK(\"http://evil\",\"clic\")" in rows["A"]
    assert "'@SUM(A1)" in rows["A"]
    assert "'+Zoé" in rows["C"] and "'-Tab" in rows["C"]
    assert json.loads(rows["A"][-1]) == {"ville": "-2+3"}  # inside JSON: harmless
    assert "+33612345678" in rows["A"]  # an E.164 number cannot run anything


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), ("+33612345678", "+33612345678"),
    ("+33 6 12", "'+33 6 12"),
])
def test_neutralize_cell(value: str, expected: str) -> None:
    assert neutralize_cell(value) == expected


def test_supervisors_get_no_numbers(site: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{site}")
    out = tmp_path / "sup.csv"
    summary = exports.export_results(engine=engine, actor=Actor("bob", Role.SUPERVISOR),
                                     slug="camp-1", out=out, include_numbers=True)
    engine.dispose()
    assert summary.with_numbers is False and summary.rows == 3
    text = out.read_text(encoding="utf-8-sig")
    assert "phone" not in read_csv(out)[0]
    for digits in ("612345678", "612345679", "9123456789"):
        assert digits not in text
    assert json.loads(audit_rows(site)[-1][4])["with_numbers"] is False


def test_admin_may_leave_numbers_out(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "client.csv"
    result = admin("results", "export", "camp-1", "--out", str(out), "--without-numbers")
    assert result.code == 0 and "without phone numbers" in result.out
    assert "612345678" not in out.read_text(encoding="utf-8-sig")


def test_operators_may_not_export(site: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{site}")
    with pytest.raises(PermissionDeniedError):
        exports.export_results(engine=engine, actor=Actor("alice", Role.OPERATOR),
                               slug="camp-1", out=tmp_path / "x.csv")
    engine.dispose()
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("case", ["unknown-campaign", "missing-folder", "out-is-a-folder"])
def test_bad_inputs_are_refused_and_nothing_is_written(admin, site: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       case: str) -> None:
    out = tmp_path / "r.csv"
    slug = "camp-1"
    if case == "unknown-campaign":
        slug = "nope"
    elif case == "out-is-a-folder":
        out = tmp_path
    else:
        out = tmp_path / "no" / "dir" / "r.csv"
    before = snapshot(site)
    assert_refused(admin("results", "export", slug, "--out", str(out)), before=before, db=site)
    assert not out.is_file()
    assert list(tmp_path.glob(".r.csv*")) == []


def test_a_failure_half_way_leaves_no_file_and_no_audit_row(admin, site: Path,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("the previous export\n", encoding="utf-8")
    conn = sqlite3.connect(site)
    conn.execute("ALTER TABLE survey_answers RENAME TO survey_answers_gone")  # reads fail
    conn.commit()
    conn.close()
    before = audit_rows(site)
    result = admin("results", "export", "camp-1", "--out", str(out), *SECOND,
                   stdin=CAROL_PASSWORD + "\n")
    assert result.code != 0
    assert "Traceback" not in result.out + result.err
    assert out.read_text(encoding="utf-8") == "the previous export\n"  # untouched
    assert list(tmp_path.glob(".r.csv*")) == []
    # The second person did log in (audited); the export itself left no row.
    assert [r[1:3] for r in audit_rows(site)[len(before):]] == [("carol", "login")]
