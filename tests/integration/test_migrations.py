"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import cellcall.models  # noqa: F401  (registers the tables)
from cellcall.services.schema import alembic_config, current_revision, head_revision


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_downgrade_to_empty_then_upgrade_again(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert [t for t in inspect(conn).get_table_names() if t != "alembic_version"] == []
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert "contacts" in inspect(conn).get_table_names()
