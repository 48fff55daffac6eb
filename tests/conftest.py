"""Shared fixtures: real SQLite files in temp dirs, the real admin command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from cellcall.db import make_engine
from cellcall.services.schema import init_schema


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own configuration, database or language."""
    monkeypatch.setenv("CELLCALL_DATA_DIR", str(tmp_path / "data-dir"))
    monkeypatch.delenv("CELLCALL_DB", raising=False)
    monkeypatch.delenv("CELLCALL_CONFIG", raising=False)
    monkeypatch.setenv("CELLCALL_LANG", "en")
    from cellcall import i18n

    i18n.set_language("en")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a SQLite file (not created)."""
    return tmp_path / "cellcall.sqlite3"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    """An engine on a fresh, initialised SQLite file."""
    eng = make_engine(f"sqlite:///{db_path}")
    init_schema(eng)
    yield eng
    eng.dispose()


@dataclass
class AdminResult:
    code: int
    out: str
    err: str


@pytest.fixture
def admin(db_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``cellcall-admin --db <db_path> ARGS`` in-process; returns code, stdout, stderr."""
    from cellcall.admin.cli import main

    def run(*args: str, stdin: str | None = None, db: bool = True) -> AdminResult:
        capsys.readouterr()
        argv = (["--db", str(db_path)] if db else []) + list(args)
        if stdin is not None:
            import io

            old = sys.stdin
            sys.stdin = io.StringIO(stdin)
            try:
                code = main(argv)
            finally:
                sys.stdin = old
        else:
            code = main(argv)
        captured = capsys.readouterr()
        return AdminResult(code, captured.out, captured.err)

    return run
