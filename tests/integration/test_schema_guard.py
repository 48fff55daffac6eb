"""Databases cellcall must not touch: a newer version's, another program's, a non-SQLite
file; and a missing database file, which only ``init`` may create."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cellcall.db import make_engine
from cellcall.errors import SchemaError
from cellcall.services.schema import init_schema, require_current_schema
from foundation_support import assert_refused, build_site, file_digest

COMMANDS: list[tuple[str, ...]] = [
    ("init",),
    ("user", "list"),
    ("user", "add", "zoe", "--role", "operator", "--name", "Zoe"),
    ("station", "add", "poste-9"),
    ("campaign", "list"),
    ("audit", "verify"),
]


def _make_newer(path: Path, journal_mode: str) -> None:
    build_site(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("UPDATE alembic_version SET version_num = 'ffff9999'")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("journal_mode", ["WAL", "DELETE"])
def test_newer_database_is_refused_by_every_command_and_left_byte_identical(  # type: ignore[no-untyped-def]
        admin, db_path: Path, tmp_path: Path, journal_mode: str) -> None:
    _make_newer(db_path, journal_mode)
    digest = file_digest(db_path)
    for args in [*COMMANDS, ("backup", str(tmp_path / "copy.sqlite3"))]:
        result = admin(*args)
        assert_refused(result)
        assert "newer version" in result.err, (args, result.err)
        assert "ffff9999" in result.err
        assert file_digest(db_path) == digest, args
    assert not (tmp_path / "copy.sqlite3").exists()


def test_newer_database_is_refused_by_the_services(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    _make_newer(path, "DELETE")
    digest = file_digest(path)
    engine = make_engine(f"sqlite:///{path}")
    with pytest.raises(SchemaError, match="newer"):
        init_schema(engine)
    with pytest.raises(SchemaError, match="newer"):
        require_current_schema(engine)
    engine.dispose()
    assert file_digest(path) == digest


def test_foreign_sqlite_file_is_refused_and_untouched(admin, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE payroll (name TEXT, amount REAL)")
    conn.execute("INSERT INTO payroll VALUES ('x', 1.5)")
    conn.commit()
    conn.close()
    digest = file_digest(db_path)
    for args in COMMANDS:
        assert_refused(admin(*args))
        assert file_digest(db_path) == digest, args
    assert "did not make" in admin("init").err
    assert sorted(p.name for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)) \
        == [db_path.name]


def test_file_that_is_not_sqlite_is_refused_and_untouched(admin, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path.write_text("name;phone\nDupont;0612345678\n", encoding="utf-8")
    digest = file_digest(db_path)
    for args in COMMANDS:
        result = admin(*args)
        assert_refused(result)
        assert "not a cellcall database" in result.err
    assert file_digest(db_path) == digest


@pytest.mark.parametrize("args", [*COMMANDS[1:], ("backup", "/nonexistent-dir/out.sqlite3")])
def test_missing_database_is_refused_and_not_created(  # type: ignore[no-untyped-def]
        admin, db_path: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = admin(*args)
    assert_refused(result)
    assert "init" in result.err
    assert not db_path.exists()
    assert list(tmp_path.iterdir()) == [], "no file or folder may be created"


def test_missing_default_database_is_refused_and_data_dir_not_created(  # type: ignore[no-untyped-def]
        admin, tmp_path: Path) -> None:
    result = admin("user", "list", db=False)
    assert_refused(result)
    assert not (tmp_path / "data-dir").exists()


def test_init_creates_the_default_database_in_the_data_dir(admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert admin("init", db=False).code == 0
    assert (tmp_path / "data-dir" / "cellcall.sqlite3").is_file()
    assert admin("user", "list", db=False).code == 0
