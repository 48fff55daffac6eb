"""Creating, upgrading and checking the database schema (Alembic migrations only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from cellcall.errors import SchemaError
from cellcall.i18n import _

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _refuse_newer(revision: str | None) -> None:
    if revision is not None and not _is_known(revision):
        raise SchemaError(_(
            "This database was made by a newer version of cellcall (schema {revision}); "
            "it was left untouched. Install the newer cellcall to use it."
        ).format(revision=revision))


def _sqlite_file(engine: Engine) -> Path | None:
    """The existing SQLite file behind ``engine``, if any."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path if path.is_file() else None


def _peek_readonly(path: Path) -> tuple[list[str], str | None]:
    """Tables and Alembic revision of a SQLite file, read without writing to it.

    The engine's connect hook switches the file to WAL mode, which rewrites its header; so a
    file that may not be ours (another program's, or a newer cellcall's) is looked at first
    through a read-only connection, and refused before the engine ever touches it.
    """
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = [str(r[0]) for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            revision = None
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = str(row[0]) if row else None
            return tables, revision
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise SchemaError(_(
            "{path} is not a cellcall database (not SQLite, or damaged); it was left "
            "untouched.").format(path=path)) from None


def _foreign_tables(tables: list[str]) -> list[str]:
    return [t for t in tables if t != "alembic_version" and not t.startswith("sqlite_")]


def _refuse_foreign() -> None:
    raise SchemaError(_(
        "This database already holds tables that cellcall did not make; "
        "it was left untouched."))


def init_schema(engine: Engine) -> tuple[str | None, str]:
    """Create the schema on an empty database or upgrade an older one.

    Returns ``(revision before, revision after)``. A database from a newer version is
    refused and never altered; a non-empty database that cellcall did not make is refused.
    """
    path = _sqlite_file(engine)
    if path is not None:
        tables, revision = _peek_readonly(path)
        _refuse_newer(revision)
        if revision is None and _foreign_tables(tables):
            _refuse_foreign()
    before = current_revision(engine)
    _refuse_newer(before)
    if before is None:
        with engine.connect() as conn:
            foreign = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        if foreign:
            _refuse_foreign()
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head_revision()


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database that is not at this version's schema."""
    path = _sqlite_file(engine)
    if path is not None:  # look before the engine's first connection changes anything
        _tables, peeked = _peek_readonly(path)
        if peeked is None:
            raise SchemaError(_(
                "The database is not initialised: run 'cellcall-admin init' first."))
        _refuse_newer(peeked)
    revision = current_revision(engine)
    if revision is None:
        raise SchemaError(_(
            "The database is not initialised: run 'cellcall-admin init' first."))
    _refuse_newer(revision)
    if revision != head_revision():
        raise SchemaError(_(
            "The database schema is older than this cellcall: run 'cellcall-admin init' "
            "to upgrade it."))


def require_database_file(url: str) -> None:
    """For SQLite, refuse to create a new empty file anywhere but in ``init``."""
    if url.startswith("sqlite") and ":memory:" not in url:
        path = Path(url.split("///", 1)[-1])
        if not path.is_file():
            raise SchemaError(_(
                "No database at {path}: run 'cellcall-admin init' first.").format(path=path))
