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


def test_upgrade_from_0001_keeps_contacts_and_gives_them_an_empty_postal_code(
        engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO clients (name, created_at) VALUES ('c', '2026-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO campaigns (slug, name, client_id, type, audience, country, languages,"
            " dispositions, retry_rules, max_attempts, working_hours, priority, dialing_mode,"
            " ignore_calling_hours, status, created_at) VALUES ('s', 's', 1, 'survey',"
            " 'business', 'FR', '[]', '[]', '{}', 3, '{}', 0, 'preview', 0, 'active',"
            " '2026-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO contacts (campaign_id, first_name, last_name, company, phone_e164,"
            " time_zones, language, custom_fields, has_contract, status, attempts, created_at)"
            " VALUES (1, 'Ana', 'B', '', '+33612345678', '[]', 'fr', '{}', 0, 'new', 0,"
            " '2026-01-01')")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT first_name, postal_code FROM contacts").all()
    assert [tuple(r) for r in rows] == [("Ana", "")]
