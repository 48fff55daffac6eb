"""Do-not-call lists: file imports (text, CSV, XLSX), single numbers, look-ups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from cellcall.db import make_engine, read_session, run_write
from cellcall.errors import PermissionDeniedError, ValidationError
from cellcall.models.users import Role
from cellcall.services import dnc
from cellcall.services.actors import Actor, shell_admin
from contacts_support import count, query, write_csv
from foundation_support import assert_refused, audit_rows, snapshot


def entries(db: Path) -> list[tuple[object, ...]]:
    return query(db, "SELECT phone_e164, source FROM dnc_entries ORDER BY phone_e164")


def test_plain_text_file_one_number_a_line(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "opposition.txt"
    path.write_text("06 12 34 56 78\n+32 470 12 34 56\n\nnot a number\n0612345678\n"
                    "0590 12 34 56\n123\n", encoding="utf-8")
    result = admin("dnc", "import", str(path), "--source", "bloctel")
    assert result.code == 0, result.err
    first = result.out.splitlines()[0]
    assert first == ("Do-not-call list bloctel: 6 numbers read, 3 added, 0 already listed, "
                     "1 repeated, 2 invalid.")
    assert "line 4: not a phone number: not a number" in result.out
    assert "line 7: invalid phone number: 123" in result.out
    assert entries(site) == [("+32470123456", "bloctel"), ("+33612345678", "bloctel"),
                             ("+590590123456", "bloctel")]
    imports = query(site, "SELECT source, rows_read, rows_added, imported_at FROM dnc_imports")
    assert imports[0][:3] == ("bloctel", 6, 3)
    assert imports[0][3]
    last = audit_rows(site)[-1]
    assert last[2] == "dnc.import" and last[3] == "bloctel"
    assert json.loads(last[4])["added"] == 3


def test_reimport_adds_nothing_new_but_records_the_import(admin, site: Path,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("0612345678\n0612345679\n", encoding="utf-8")
    assert admin("dnc", "import", str(path), "--source", "dncm-be").code == 0
    result = admin("dnc", "import", str(path), "--source", "dncm-be")
    assert "2 numbers read, 0 added, 2 already listed, 0 repeated, 0 invalid" in result.out
    assert count(site, "dnc_entries") == 2
    assert [r[0] for r in query(site, "SELECT rows_added FROM dnc_imports")] == [2, 0]
    # Another source lists the same numbers again, on its own.
    assert admin("dnc", "import", str(path)).code == 0
    assert {r[1] for r in entries(site)} == {"dncm-be", "manual"}
    engine = make_engine(f"sqlite:///{site}")
    with read_session(engine) as session:
        latest = dnc.latest_import(session=session, source="dncm-be")
        assert latest is not None and latest.rows_added == 0
    engine.dispose()


def test_csv_with_a_phone_column_and_a_belgian_default(admin, site: Path,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    path = write_csv(tmp_path / "be.csv", ["Nom", "Numéro", "Date"],
                     [["A", "0470 12 34 56", "2026-01-01"], ["B", "+33 6 12 34 56 78", ""]],
                     encoding="cp1252")
    result = admin("dnc", "import", str(path), "--country", "BE", "--source", "dncm-be")
    assert result.code == 0, result.err
    assert [r[0] for r in entries(site)] == ["+32470123456", "+33612345678"]


def test_xlsx_list(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["telephone"])
    sheet.append([612345678])
    sheet.append(["06 12 34 56 79"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    assert admin("dnc", "import", str(path)).code == 0
    assert [r[0] for r in entries(site)] == ["+33612345678", "+33612345679"]


def test_dnc_numbers_are_then_refused_by_contact_imports(admin, site: Path,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    (tmp_path / "dnc.txt").write_text("06 12 34 56 78\n", encoding="utf-8")
    assert admin("dnc", "import", str(tmp_path / "dnc.txt")).code == 0
    path = write_csv(tmp_path / "c.csv", ["tel"], [["+33612345678"], ["0612345600"]])
    result = admin("contacts", "import", "camp-1", str(path))
    assert "1 imported, 0 rejected, 0 duplicate, 1 on the do-not-call list" in result.out


@pytest.mark.parametrize("case", ["missing", "empty", "no-phone-column", "bad-country",
                                  "bad-source", "only-blank-lines", "unreadable-xlsx"])
def test_bad_inputs_are_refused_and_nothing_is_written(admin, site: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       case: str) -> None:
    path = tmp_path / "list.txt"
    path.write_text("0612345678\n", encoding="utf-8")
    extra: list[str] = []
    if case == "missing":
        path = tmp_path / "nope.txt"
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "only-blank-lines":
        path.write_bytes(b"\n\n  \n")
    elif case == "no-phone-column":
        path = write_csv(tmp_path / "x.csv", ["nom", "ville"], [["A", "Paris"]])
    elif case == "bad-country":
        extra = ["--country", "ZZ"]
    elif case == "unreadable-xlsx":
        path = tmp_path / "list.xlsx"
        path.write_bytes(b"PK\x03\x04 broken")
    elif case == "bad-source":
        extra = ["--source", " "]
    before = snapshot(site)
    result = admin("dnc", "import", str(path), *extra)
    assert_refused(result, before=before, db=site)


def test_is_on_dnc_and_add_number_by_an_operator(site: Path) -> None:
    engine = make_engine(f"sqlite:///{site}")
    operator = Actor("alice", Role.OPERATOR, user_id=1)
    with read_session(engine) as session:
        assert not dnc.is_on_dnc(session, "+33612345678")
    added = run_write(engine, lambda s: dnc.add_number(
        session=s, actor=operator, e164="+33612345678", source=dnc.CALLEE_REQUEST_SOURCE))
    again = run_write(engine, lambda s: dnc.add_number(
        session=s, actor=operator, e164="+33612345678", source=dnc.CALLEE_REQUEST_SOURCE))
    assert (added, again) == (True, False)
    with read_session(engine) as session:
        assert dnc.is_on_dnc(session, "+33612345678")
        assert dnc.is_on_dnc(session=session, e164="+33612345678")
        assert not dnc.is_on_dnc(session, "+33612345679")
        assert dnc.numbers_on_dnc(session, ["+33612345678", "+33600000000"]) == {
            "+33612345678"}
    with pytest.raises(ValidationError):
        run_write(engine, lambda s: dnc.add_number(
            session=s, actor=operator, e164="0612345678", source="x"))
    engine.dispose()
    rows = [r for r in audit_rows(site) if r[2] == "dnc.add"]
    assert len(rows) == 1
    assert rows[0][1] == "alice"
    assert "12345678" not in rows[0][3]  # the audit log names the number masked
    plan = query(site, "EXPLAIN QUERY PLAN SELECT id FROM dnc_entries WHERE phone_e164 = ?",
                 "+33612345678")
    assert "ix_dnc_entries_phone_e164" in str(plan)


def test_only_admins_import_lists(site: Path) -> None:
    engine = make_engine(f"sqlite:///{site}")
    with pytest.raises(PermissionDeniedError):
        run_write(engine, lambda s: dnc.import_dnc(
            session=s, actor=Actor("sup", Role.SUPERVISOR), rows=[(1, "0612345678")],
            source="x", default_region="FR"))
    summary = run_write(engine, lambda s: dnc.import_dnc(
        session=s, actor=shell_admin(), rows=[(1, "0612345678"), (2, "zz")], source="x",
        default_region="FR"))
    engine.dispose()
    assert (summary.rows_read, summary.rows_added, summary.invalid) == (2, 1, 1)
