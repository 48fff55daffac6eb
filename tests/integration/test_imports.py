"""Contacts import: client spreadsheets (CSV ';' or ',', UTF-8 with or without BOM,
Windows-1252, XLSX), rejects, counts that add up, all or nothing, and concurrency."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from cellcall.db import make_engine, read_session, run_write
from cellcall.errors import CellcallError, ValidationError
from cellcall.models.users import Role
from cellcall.services import dnc, imports
from cellcall.services.actors import Actor, shell_admin
from contacts_support import (
    FR_MOBILES,
    add_campaign,
    count,
    query,
    read_csv,
    write_csv,
)
from foundation_support import assert_refused, audit_rows, build_site, run_admin_process, snapshot


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_site(tmp_path_factory.mktemp("site") / "template.sqlite3")
    add_campaign(path, "prospection", type_="prospecting", languages=("fr",))
    add_campaign(path, "rdv-pro", type_="appointment", audience="business", languages=("fr",))
    return path



def contacts(db: Path, slug: str = "camp-1") -> list[tuple[object, ...]]:
    return query(db, "SELECT c.external_ref, c.first_name, c.last_name, c.company, "
                     "c.phone_e164, c.time_zones, c.language, c.custom_fields, c.consent_at, "
                     "c.has_contract, c.status, c.demo_behaviour FROM contacts c "
                     "JOIN campaigns k ON k.id = c.campaign_id WHERE k.slug = ? "
                     "ORDER BY c.id", slug)


# --- spreadsheets --------------------------------------------------------------------


def test_french_spreadsheet_semicolon_windows_1252(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "clients.csv",
                     ["Référence", "Prénom", "Nom", "Société", "Téléphone", "Langue",
                      "Secteur d'activité"],
                     [["R1", "Hélène", "Dupré", "Société Générale", "06 12 34 56 78", "fr",
                       "Bâtiment"],
                      ["R2", "François", "Lefèvre", "Café & Cie", "0696 27 53 86", "FR",
                       "Hôtellerie"],
                      ["R3", "Zoé", "Mañas", "", "+32 470 12 34 56", "Russe", ""]],
                     encoding="cp1252")
    assert b"\xe9" in path.read_bytes()  # really Windows-1252 (é), not UTF-8
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0, result.err
    assert "3 rows read: 3 imported, 0 rejected, 0 duplicate" in result.out
    assert len(result.out.strip().splitlines()) == 1
    rows = contacts(site)
    assert rows[0][:5] == ("R1", "Hélène", "Dupré", "Société Générale", "+33612345678")
    assert json.loads(str(rows[0][5])) == ["Europe/Paris"]
    assert json.loads(str(rows[0][7])) == {"Secteur d'activité": "Bâtiment"}
    assert rows[1][3] == "Café & Cie"
    assert rows[1][4] == "+596696275386"  # Martinique, written nationally
    assert json.loads(str(rows[1][5])) == ["America/Martinique"]
    assert rows[2][4] == "+32470123456"
    assert rows[2][6] == "ru"  # a language name is understood too
    assert json.loads(str(rows[2][7])) == {}
    assert all(r[10] == "new" for r in rows)
    actions = [r[2] for r in audit_rows(site)]
    assert actions.count("contacts.import") == 1
    details = json.loads(audit_rows(site)[-1][4])
    assert details["imported"] == 3 and details["rows_read"] == 3


def test_utf8_with_bom_and_commas_english_headers(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "list.csv",
                     ["first_name", "last_name", "Phone", "language", "external_ref",
                      "consent_at", "consent_source", "consent_wording", "contract", "Notes"],
                     [["Ольга", "Иванова", "+7 912 345 67 89", "ru", "X1",
                       "2026-03-01 10:30", "web form", "J'accepte d'être appelé", "no",
                       "=1+1"],
                      ["Ayşe", "Yılmaz", "06 12 34 56 79", "", "X2", "15/04/2026", "", "",
                       "oui", ""]],
                     delimiter=",", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0, result.err
    rows = contacts(site)
    assert rows[0][1:3] == ("Ольга", "Иванова")
    assert rows[0][0] == "X1"  # the BOM did not stick to the first header
    assert rows[0][6] == "ru"
    assert rows[1][6] == "fr"  # no language: the campaign's first
    assert json.loads(str(rows[0][7])) == {"Notes": "=1+1"}
    assert rows[0][8] == "2026-03-01 09:30:00.000000"  # Paris time stored as UTC
    assert rows[1][8] == "2026-04-14 22:00:00.000000"
    assert rows[0][9] == 0 and rows[1][9] == 1
    consent = query(site, "SELECT consent_source, consent_wording FROM contacts ORDER BY id")
    assert consent[0] == ("web form", "J'accepte d'être appelé")


def test_excel_unicode_text_utf16_tabs(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "unicode.txt", ["Prénom", "Téléphone"],
                     [["Gülşen", "06 12 34 56 78"]], delimiter="\t", encoding="utf-16")
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0, result.err
    assert contacts(site)[0][1] == "Gülşen"


def test_xlsx_with_numeric_and_date_cells(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Prénom", "NOM", "Raison sociale", "Mobile", "Date consentement",
                  "Effectif"])
    sheet.append(["Hélène", "Dupré", "ACME", 612345678, datetime(2026, 5, 2, 9, 0), 12])
    sheet.append(["Luc", "Martin", "Beta", "+32 470 12 34 56", None, 3.0])
    sheet.append([None, None, None, None, None, None])  # blank rows are skipped
    sheet.append(["Bad", "Number", "Gamma", "12", None, None])
    path = tmp_path / "clients.xlsx"
    book.save(path)
    rejects = tmp_path / "rejects.csv"
    result = admin("contacts", "import", "camp-1", str(path), "--rejects", str(rejects))
    assert result.code == 0, result.err
    assert "3 rows read: 2 imported, 1 rejected" in result.out
    rows = contacts(site)
    assert rows[0][4] == "+33612345678"
    assert rows[0][8] == "2026-05-02 07:00:00.000000"
    assert json.loads(str(rows[0][7])) == {"Effectif": "12"}
    assert json.loads(str(rows[1][7])) == {"Effectif": "3"}
    lines = read_csv(rejects, delimiter=";")
    assert lines[0] == ["line", "reason", "Prénom", "NOM", "Raison sociale", "Mobile",
                        "Date consentement", "Effectif"]
    assert lines[1][:3] == ["5", "invalid phone number", "Bad"]


def test_column_names_in_any_case_accent_or_spacing(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "x.csv",
                     [" TÉLÉPHONE ", "PRENOM", "nom", "Raison  Sociale", "Référence",
                      "Contrat", "Langue"],
                     [["0612345678", "Ana", "Lopez", "ACME", "7", "Oui", "fr"]])
    assert admin("contacts", "import", "camp-1", str(path)).code == 0
    row = contacts(site)[0]
    assert row[:5] == ("7", "Ana", "Lopez", "ACME", "+33612345678")
    assert row[9] == 1  # contract


def test_a_second_phone_column_is_used_when_the_first_is_empty(admin, site: Path,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["nom", "téléphone", "mobile"],
                     [["A", "", "06 12 34 56 78"], ["B", "01 23 45 67 89", "06 00 00 00 01"]])
    assert admin("contacts", "import", "camp-1", str(path)).code == 0
    assert [r[4] for r in contacts(site)] == ["+33612345678", "+33123456789"]
    # The other phone column never lands in the custom fields (operators see those).
    assert all(json.loads(str(r[7])) == {} for r in contacts(site))


# --- rejects and counts -------------------------------------------------------------


def test_every_kind_of_reject_is_counted_and_written(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = write_csv(tmp_path / "first.csv", ["tel"], [["06 11 11 11 11"]])
    assert admin("contacts", "import", "camp-1", str(first)).code == 0
    engine = make_engine(f"sqlite:///{site}")
    run_write(engine, lambda s: dnc.add_number(session=s, actor=shell_admin(),
                                                e164="+33622222222", source="test"))
    path = write_csv(tmp_path / "file.csv", ["nom", "tel", "langue", "demo_behaviour"], [
        ["ok", "06 33 33 33 33", "fr", "answer"],
        ["missing", "", "fr", ""],
        ["garbage", "n/a", "fr", ""],
        ["invalid", "0000000000", "fr", ""],
        ["dup-file", "+33 6 33 33 33 33", "fr", ""],
        ["dup-campaign", "06.11.11.11.11", "fr", ""],
        ["dnc", "06 22 22 22 22", "fr", ""],
        ["lang", "06 44 44 44 44", "klingon", ""],
        ["behaviour", "06 55 55 55 55", "fr", "explode"],
        ["", "", "", ""],  # a blank line is not a row
        ["ok2", "06 66 66 66 66", "tr", "no-answer"],
    ])
    rejects = tmp_path / "out" / "rejects.csv"
    rejects.parent.mkdir()
    result = admin("contacts", "import", "camp-1", str(path), "--rejects", str(rejects))
    assert result.code == 0, result.err
    assert ("10 rows read: 2 imported, 5 rejected, 2 duplicate, 1 on the do-not-call list"
            in result.out)
    assert str(rejects) in result.out
    lines = read_csv(rejects)
    assert lines[0] == ["line", "reason", "nom", "tel", "langue", "demo_behaviour"]
    reasons = {row[2]: (row[0], row[1]) for row in lines[1:]}
    assert reasons == {
        "missing": ("3", "missing phone number"),
        "garbage": ("4", "not a phone number"),
        "invalid": ("5", "invalid phone number"),
        "dup-file": ("6", "duplicate within the file"),
        "dup-campaign": ("7", "already in the campaign"),
        "dnc": ("8", "on the do-not-call list"),
        "lang": ("9", "unknown language code 'klingon'"),
        "behaviour": ("10", "unknown demo behaviour 'explode'"),
    }
    imported = contacts(site)
    assert [r[4] for r in imported] == ["+33611111111", "+33633333333", "+33666666666"]
    assert imported[1][11] == "answer" and imported[2][11] == "no_answer"


def test_without_rejects_option_the_summary_says_how_to_get_them(admin, site: Path,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["tel"], [["123"], ["0612345678"]])
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0
    assert "--rejects" in result.out


def test_french_solicitation_counts_contacts_without_consent(admin, site: Path,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["tel", "date_consentement", "contrat"], [
        ["06 12 34 56 01", "2026-01-05", ""],
        ["06 12 34 56 02", "", "oui"],
        ["06 12 34 56 03", "", ""],
        ["06 12 34 56 04", "", "non"],
    ])
    result = admin("contacts", "import", "prospection", str(path))
    assert result.code == 0, result.err
    assert "4 imported" in result.out
    assert "2 of them have neither prior consent nor a contract" in result.out
    assert "loi 2025-594" in result.out
    assert len(contacts(site, "prospection")) == 4  # imported, not rejected
    assert json.loads(audit_rows(site)[-1][4])["without_consent"] == 2
    # Business campaigns and surveys are outside the rule: nothing said.
    result = admin("contacts", "import", "rdv-pro", str(path))
    assert result.code == 0 and "consent" not in result.out
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0 and "consent" not in result.out


def test_consent_date_in_the_future_or_unreadable_is_rejected(admin, site: Path,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["tel", "consent_at"], [
        ["06 12 34 56 01", "2099-01-01"], ["06 12 34 56 02", "hier"],
        ["06 12 34 56 03", "31/12/2025 23:59"]])
    result = admin("contacts", "import", "camp-1", str(path))
    assert "3 rows read: 1 imported, 2 rejected" in result.out


# --- dry run, all or nothing, refusals ---------------------------------------------------


def test_dry_run_writes_nothing_but_the_rejects_file(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "f.csv", ["tel"], [["0612345678"], ["bad"]])
    rejects = tmp_path / "rejects.csv"
    before = snapshot(site)
    result = admin("contacts", "import", "camp-1", str(path), "--dry-run",
                   "--rejects", str(rejects))
    assert result.code == 0, result.err
    assert "Dry run" in result.out and "nothing written" in result.out
    assert "2 rows read: 1 imported, 1 rejected" in result.out
    assert snapshot(site) == before
    assert len(read_csv(rejects)) == 2


def test_an_error_mid_file_leaves_no_contact(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The database itself refuses one row far into the file (after several chunks).
    conn = sqlite3.connect(site)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON contacts "
                 "WHEN NEW.external_ref = 'BOOM' BEGIN SELECT RAISE(ABORT, 'refused'); END")
    conn.commit()
    conn.close()
    rows = [[f"R{i}", f"06 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 00"]
            for i in range(12_000)]
    rows[11_000][0] = "BOOM"
    path = write_csv(tmp_path / "big.csv", ["reference", "tel"], rows)
    rejects = tmp_path / "rejects.csv"
    before = snapshot(site)
    result = admin("contacts", "import", "camp-1", str(path), "--rejects", str(rejects),
                   "--workers", "0")
    assert_refused(result, before=before, db=site)
    assert "refused" in result.err and "nothing was written" in result.err
    assert count(site, "contacts") == 0
    assert not rejects.exists()
    assert list(tmp_path.glob(".rejects.csv.*")) == []  # no temporary file left behind


def _xlsx_garbage(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    return path


@pytest.mark.parametrize("case", [
    "missing-file", "unknown-campaign", "closed-campaign", "empty-file", "blank-file",
    "header-only", "no-phone-column", "two-name-columns", "unreadable-xlsx", "old-xls",
    "rejects-folder-missing", "not-a-file", "rejects-is-the-input", "rejects-is-a-folder",
])
def test_bad_inputs_are_refused_and_nothing_is_written(admin, site: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       case: str) -> None:
    good = write_csv(tmp_path / "good.csv", ["tel"], [["0612345678"]])
    slug, file, extra = "camp-1", good, []
    if case == "missing-file":
        file = tmp_path / "nope.csv"
    elif case == "unknown-campaign":
        slug = "nope"
    elif case == "closed-campaign":
        slug = "camp-closed"
    elif case == "empty-file":
        file = tmp_path / "empty.csv"
        file.write_bytes(b"")
    elif case == "blank-file":
        file = tmp_path / "blank.csv"
        file.write_bytes(b"\xef\xbb\xbf\r\n  \r\n")
    elif case == "header-only":
        file = write_csv(tmp_path / "h.csv", ["tel", "nom"], [])
    elif case == "no-phone-column":
        file = write_csv(tmp_path / "n.csv", ["nom", "prénom"], [["A", "B"]])
    elif case == "two-name-columns":
        file = write_csv(tmp_path / "n.csv", ["tel", "nom", "last_name"], [["0612345678",
                                                                           "A", "B"]])
    elif case == "unreadable-xlsx":
        file = _xlsx_garbage(tmp_path / "broken.xlsx")
    elif case == "old-xls":
        file = tmp_path / "old.xls"
        file.write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    elif case == "rejects-folder-missing":
        extra = ["--rejects", str(tmp_path / "no" / "such" / "dir" / "r.csv")]
    elif case == "not-a-file":
        file = tmp_path
    elif case == "rejects-is-the-input":
        extra = ["--rejects", str(good)]
    elif case == "rejects-is-a-folder":
        extra = ["--rejects", str(tmp_path)]
    before = snapshot(site)
    result = admin("contacts", "import", slug, str(file), *extra)
    assert_refused(result, before=before, db=site)
    assert result.code == 1


def test_the_real_command_refuses_a_garbage_xlsx_in_its_own_process(site: Path,
                                                                    tmp_path: Path) -> None:
    before = snapshot(site)
    proc = run_admin_process(site, "contacts", "import", "camp-1",
                             str(_xlsx_garbage(tmp_path / "x.xlsx")))
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert snapshot(site) == before


# --- property: no crash, counts add up ----------------------------------------------------

_VALID = [*FR_MOBILES[:40], "+32 470 12 34 56", "+590 590 12 34 56", "0696 27 53 86",
          "+7 912 345 67 89", "+1 201 555 0123"]
_DNC = ["+33 6 99 99 99 01", "06 99 99 99 02"]
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
_phone = st.one_of(st.sampled_from(_VALID), st.sampled_from(_DNC), _text,
                   st.sampled_from(["", " ", "n/a", "123", "+", "++33", "0" * 30,
                                    "06 12 34 56 78 99 99"]))
_row = st.tuples(_phone, _text, _text, st.sampled_from(["", "fr", "RU", "xx", "turc", "é"]),
                 _text)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(rows=st.lists(_row, max_size=40), delimiter=st.sampled_from([";", ",", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_random_files_never_crash_and_counts_add_up(site: Path, tmp_path: Path,
                                                    rows: list[tuple[str, ...]],
                                                    delimiter: str, encoding: str) -> None:
    engine = make_engine(f"sqlite:///{site}")
    actor = shell_admin()
    if not query(site, "SELECT 1 FROM dnc_entries"):
        run_write(engine, lambda s: dnc.import_dnc(
            session=s, actor=actor, rows=list(enumerate(_DNC)), source="t",
            default_region="FR"))
    if encoding == "cp1252":
        rows = [tuple(c.encode("cp1252", "replace").decode("cp1252") for c in r)
                for r in rows]
    slug = f"p-{time.monotonic_ns() % 10**12}"
    add_campaign(site, slug)
    path = write_csv(tmp_path / f"{slug}.csv", ["tel", "prénom", "nom", "langue", "note"],
                     [list(r) for r in rows], delimiter=delimiter, encoding=encoding)
    expected_rows = sum(1 for r in rows if any(c.strip() for c in r))
    before = count(site, "contacts")
    try:
        summary = imports.import_contacts(engine=engine, actor=actor, slug=slug, path=path,
                                          workers=0)
    except ValidationError as exc:
        # Only a file without any data row may be refused.
        assert expected_rows == 0 or "no data rows" in str(exc) or "empty" in str(exc), exc
        assert count(site, "contacts") == before
        return
    finally:
        engine.dispose()
    assert summary.rows_read == expected_rows
    assert (summary.imported + summary.rejected + summary.duplicate + summary.dnc
            == summary.rows_read)
    assert count(site, "contacts") - before == summary.imported
    phones = [r[0] for r in query(site, "SELECT phone_e164 FROM contacts c JOIN campaigns k "
                                        "ON k.id = c.campaign_id WHERE k.slug = ?", slug)]
    assert len(phones) == len(set(phones))
    assert not {"+33699999901", "+33699999902"} & set(phones)


# --- services: progress, workers ---------------------------------------------------------


def test_workers_give_the_same_result_as_one_process(site: Path, tmp_path: Path) -> None:
    rows = [[f"R{i}", FR_MOBILES[i % len(FR_MOBILES)], "fr" if i % 3 else "xx", f"v{i}"]
            for i in range(3000)]
    path = write_csv(tmp_path / "f.csv", ["ref", "tel", "langue", "extra"], rows)
    add_campaign(site, "solo")
    add_campaign(site, "multi")
    engine = make_engine(f"sqlite:///{site}")
    seen: list[tuple[str, int]] = []
    one = imports.import_contacts(engine=engine, actor=shell_admin(), slug="solo", path=path,
                                  workers=0)
    many = imports.import_contacts(engine=engine, actor=shell_admin(), slug="multi",
                                   path=path, workers=2,
                                   progress=lambda phase, done, _t: seen.append((phase, done)))
    engine.dispose()
    assert (one.imported, one.rejected, one.duplicate) == (
        many.imported, many.rejected, many.duplicate)
    assert one.imported > 0 and one.duplicate > 0 and one.rejected > 0
    strip = "SELECT external_ref, phone_e164, time_zones, language, custom_fields FROM " \
            "contacts c JOIN campaigns k ON k.id = c.campaign_id WHERE k.slug = ? ORDER BY c.id"
    assert query(site, strip, "solo") == query(site, strip, "multi")
    assert seen[-1] == ("write", many.imported)
    assert ("check", 3000) in seen


def test_only_admins_import(site: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["tel"], [["0612345678"]])
    engine = make_engine(f"sqlite:///{site}")
    with pytest.raises(CellcallError):
        imports.import_contacts(engine=engine, actor=Actor("sup", Role.SUPERVISOR),
                                slug="camp-1", path=path)
    engine.dispose()
    assert count(site, "contacts") == 0


# --- concurrency ---------------------------------------------------------------------------

WRITER = r"""
import sys, time
from pathlib import Path
from cellcall.db import make_engine, run_write
from cellcall.errors import CellcallError, ValidationError
from cellcall.models.users import Role, StationCreate
from cellcall.services import stations
from cellcall.services.actors import Actor

db, stop = sys.argv[1], Path(sys.argv[2])
engine = make_engine(f"sqlite:///{db}")
actor = Actor(login="writer", role=Role.ADMIN)
n = 0
deadline = time.monotonic() + 120
while not stop.exists() and time.monotonic() < deadline:
    run_write(engine, lambda s, n=n: stations.add_station(
        session=s, actor=actor, data=StationCreate(name=f"w-{n:05d}")))
    n += 1
    time.sleep(0.01)
print(n)
"""


@pytest.mark.slow
def test_import_while_another_process_writes(site: Path, tmp_path: Path) -> None:
    rows = [[f"R{i}", f"06 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 11"]
            for i in range(25_000)]
    path = write_csv(tmp_path / "big.csv", ["ref", "tel"], rows)
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(site), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    try:
        time.sleep(0.5)
        importer = run_admin_process(site, "contacts", "import", "camp-1", str(path))
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    everything = importer.stdout + importer.stderr + out + err
    assert "locked" not in everything.lower()
    assert importer.returncode == 0, importer.stderr
    assert writer.returncode == 0, err
    assert "25000 imported" in importer.stdout
    assert int(out.strip()) > 0
    assert count(site, "contacts") == 25_000
    assert count(site, "stations") == 1 + int(out.strip())
    proc = run_admin_process(site, "audit", "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_created_at_is_stored_like_the_orm_does(site: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["tel", "consent_at"],
                     [["0612345678", "2026-01-02T03:04:05+00:00"]])
    engine = make_engine(f"sqlite:///{site}")
    imports.import_contacts(engine=engine, actor=shell_admin(), slug="camp-1", path=path)
    from sqlmodel import select

    from cellcall.db import read_session
    from cellcall.models.contacts import Contact

    with read_session(engine) as session:
        contact = session.exec(select(Contact)).one()
    engine.dispose()
    assert contact.consent_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert contact.created_at.tzinfo is not None
    assert contact.time_zones == ["Europe/Paris"]
    assert contact.custom_fields == {}
    assert contact.has_contract is False


# --- the check and the write are separate: what changes in between is caught ------------


@pytest.mark.parametrize("sqlite_stage", [True, False])
def test_numbers_listed_between_check_and_write_roll_the_write_back(
        site: Path, tmp_path: Path, sqlite_stage: bool) -> None:
    path = write_csv(tmp_path / "f.csv", ["tel"], [["06 12 34 56 01"], ["06 12 34 56 02"]])
    engine = make_engine(f"sqlite:///{site}")
    actor = shell_admin()
    with read_session(engine) as session:
        snapshot = imports.load_snapshot(session=session, actor=actor, slug="camp-1")
    checked = imports.check_file(snapshot=snapshot, path=path, sqlite_stage=sqlite_stage)
    try:
        run_write(engine, lambda s: dnc.add_number(session=s, actor=actor,
                                                    e164="+33612345602", source="test"))
        stage = checked.spool
        target = (imports._attached_engine(engine, stage.path)
                  if isinstance(stage, imports._SqliteStage) else engine)
        with pytest.raises(imports.StaleCheckError):
            run_write(target, lambda s: imports.write_checked(
                session=s, actor=actor, checked=checked, stage_attached=target is not engine))
        if target is not engine:
            target.dispose()
    finally:
        checked.close()
    assert count(site, "contacts") == 0
    # The command checks again and this time leaves the listed number out.
    summary = imports.import_contacts(engine=engine, actor=actor, slug="camp-1", path=path)
    engine.dispose()
    assert (summary.imported, summary.dnc) == (1, 1)


@pytest.mark.parametrize("sqlite_stage", [True, False])
def test_both_ways_of_writing_store_the_same_rows(site: Path, tmp_path: Path,
                                                  sqlite_stage: bool) -> None:
    """The scratch SQLite stage (INSERT … SELECT) and the generic pickle spool
    (executemany) give identical contacts."""
    rows = [[f"R{i}", FR_MOBILES[i], "fr" if i % 2 else "ru", f"2026-01-0{1 + i % 9}",
             "oui" if i % 3 == 0 else "", f"v{i}"] for i in range(300)]
    path = write_csv(tmp_path / "f.csv", ["ref", "tel", "langue", "consent_at", "contrat",
                                          "extra"], rows)
    engine = make_engine(f"sqlite:///{site}")
    actor = shell_admin()
    add_campaign(site, "other")
    slug = "camp-1" if sqlite_stage else "other"
    with read_session(engine) as session:
        snapshot = imports.load_snapshot(session=session, actor=actor, slug=slug)
    checked = imports.check_file(snapshot=snapshot, path=path, sqlite_stage=sqlite_stage)
    try:
        stage = checked.spool
        target = (imports._attached_engine(engine, stage.path)
                  if isinstance(stage, imports._SqliteStage) else engine)
        run_write(target, lambda s: imports.write_checked(
            session=s, actor=actor, checked=checked, stage_attached=target is not engine))
        if target is not engine:
            target.dispose()
    finally:
        checked.close()
    engine.dispose()
    got = query(site, "SELECT c.external_ref, c.first_name, c.last_name, c.company, "
                      "c.phone_e164, c.time_zones, c.language, c.custom_fields, c.consent_at, "
                      "c.consent_source, c.consent_wording, c.has_contract, c.status, "
                      "c.attempts, c.demo_behaviour, typeof(c.consent_at), "
                      "typeof(c.has_contract), typeof(c.created_at) "
                      "FROM contacts c JOIN campaigns k ON k.id = c.campaign_id "
                      "WHERE k.slug = ? ORDER BY c.id", slug)
    assert [r[0] for r in got] == [f"R{i}" for i in range(300)]  # file order kept
    assert got[0][5:9] == ('["Europe/Paris"]', "ru", '{"extra": "v0"}',
                           "2025-12-31 23:00:00.000000")
    assert {r[15:] for r in got} == {("text", "integer", "text")}
    assert [r[11] for r in got[:4]] == [1, 0, 0, 1]
