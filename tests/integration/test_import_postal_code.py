"""Contacts import: a postal-code column lands in Contact.postal_code (the security office
excludes postal-code areas), whatever its header, through both ways of writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from cellcall.db import make_engine, read_session, run_write
from cellcall.services import imports
from cellcall.services.actors import shell_admin
from contacts_support import FR_MOBILES, add_campaign, query, write_csv


def postal(db: Path) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in query(
        db, "SELECT phone_e164, postal_code FROM contacts ORDER BY id")]


@pytest.mark.parametrize("header", ["Code postal", "CP", "postal_code", "Postcode", "ZIP",
                                    "code_postal", "Zip code"])
def test_each_usual_header_is_the_postal_code(admin, site: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                              header: str) -> None:
    path = write_csv(tmp_path / "x.csv", ["nom", "téléphone", header, "ville"],
                     [["A", "06 12 34 56 78", " 75011 ", "Paris"],
                      ["B", "06 12 34 56 79", "", "Lyon"]])
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0, result.err
    assert postal(site) == [("+33612345678", "75011"), ("+33612345679", "")]
    # The column is the contact's, not a custom field shown as such.
    fields = [json.loads(str(r[0])) for r in query(site, "SELECT custom_fields FROM contacts")]
    assert fields == [{"ville": "Paris"}, {"ville": "Lyon"}]


def test_without_the_column_the_postal_code_is_empty(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "x.csv", ["nom", "téléphone"], [["A", "06 12 34 56 78"]])
    assert admin("contacts", "import", "camp-1", str(path)).code == 0
    assert postal(site) == [("+33612345678", "")]


def test_a_numeric_xlsx_cell(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Téléphone", "CP"])
    sheet.append(["0612345678", 13001])
    path = tmp_path / "x.xlsx"
    book.save(path)
    result = admin("contacts", "import", "camp-1", str(path))
    assert result.code == 0, result.err
    assert postal(site) == [("+33612345678", "13001")]


def test_a_postal_code_longer_than_the_column_is_a_reject(admin, site: Path,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["téléphone", "cp"],
                     [["06 12 34 56 78", "1" * 17], ["06 12 34 56 79", "69003"]])
    rejects = tmp_path / "rejects.csv"
    result = admin("contacts", "import", "camp-1", str(path), "--rejects", str(rejects))
    assert result.code == 0, result.err
    assert postal(site) == [("+33612345679", "69003")]
    assert "postal_code" in rejects.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("sqlite_stage", [True, False])
def test_both_ways_of_writing_keep_the_postal_code(site: Path, tmp_path: Path,
                                                   sqlite_stage: bool) -> None:
    rows = [[FR_MOBILES[i], f"{75001 + i:05d}"] for i in range(50)]
    path = write_csv(tmp_path / "f.csv", ["tel", "code postal"], rows)
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
    assert [code for _phone, code in postal(site)] == [f"{75001 + i:05d}" for i in range(50)]
