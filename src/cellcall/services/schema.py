"""Creating, upgrading and checking the database schema (Alembic migrations only)."""

from __future__ import annotations

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


def init_schema(engine: Engine) -> tuple[str | None, str]:
    """Create the schema on an empty database or upgrade an older one.

    Returns ``(revision before, revision after)``. A database from a newer version is
    refused and never altered; a non-empty database that cellcall did not make is refused.
    """
    before = current_revision(engine)
    _refuse_newer(before)
    if before is None:
        with engine.connect() as conn:
            foreign = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        if foreign:
            raise SchemaError(_(
                "This database already holds tables that cellcall did not make; "
                "it was left untouched."))
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head_revision()


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database that is not at this version's schema."""
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
