"""Helpers for the foundation tests: a site database built once, snapshots, refusals."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.db import make_engine, run_write
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.models.users import Role, StationCreate, UserCreate
from cellcall.services import audit, campaigns, stations, users
from cellcall.services.actors import Actor, shell_admin
from cellcall.services.schema import init_schema

REPO = Path(__file__).resolve().parents[1]
ALICE_PASSWORD = "a-long-secret-1"


def run_admin_process(db_path: Path, *args: str, stdin: str | None = None,
                      timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real installed ``cellcall-admin`` command in its own process."""
    exe = Path(sys.executable).parent / "cellcall-admin"
    env = dict(os.environ)
    return subprocess.run([str(exe), "--db", str(db_path), *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=env)


def build_site(path: Path) -> Path:
    """A small initialised site: users alice (operator) and bob (disabled supervisor),
    station poste-1, client Acme, open campaign camp-1 and closed campaign camp-closed."""
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    actor = shell_admin()

    def setup(session: Session) -> None:
        audit.record(session=session, actor=actor, action="schema.init")
        users.add_user(session=session, actor=actor, password=ALICE_PASSWORD,
                       data=UserCreate(login="alice", display_name="Alice",
                                       role=Role.OPERATOR, languages=["fr", "ru"]))
        users.add_user(session=session, actor=actor, password="bob-secret-99",
                       data=UserCreate(login="bob", display_name="Bob", role=Role.SUPERVISOR))
        users.disable_user(session=session, actor=actor, login="bob")
        stations.add_station(session=session, actor=actor, data=StationCreate(
            name="poste-1", desk_phone_uri="sip:poste1@pbx.local"))
        campaigns.add_client(session=session, actor=actor, name="Acme")
        for slug in ("camp-1", "camp-closed"):
            campaigns.create_campaign(session=session, actor=actor, data=CampaignCreate(
                slug=slug, client_name="Acme", type=CampaignType("survey"),
                audience=Audience("consumer"), country="FR", languages=["fr"]))
        campaigns.close_campaign(session=session, actor=actor, slug="camp-closed")

    run_write(engine, setup)
    engine.dispose()  # last connection closed: the WAL is folded into the main file
    return path


def snapshot(db: Path) -> dict[str, str]:
    """Row count and a digest of the content of every table (read-only)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        result = {}
        for name in names:
            rows = conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
            result[name] = f"{len(rows)} rows {digest}"
        return result
    finally:
        conn.close()


def audit_rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT id, actor, action, target, details FROM audit_events ORDER BY id").fetchall()
    finally:
        conn.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(result: Any, *, before: dict[str, str] | None = None,
                   db: Path | None = None) -> None:
    """A failed admin command: non-zero, not an internal error, one line on stderr, no
    traceback, and (when a snapshot is given) nothing written."""
    text = result.out + result.err
    assert result.code != 0, text
    assert result.code != 70, f"internal error instead of a refusal: {text}"
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.err!r}"
    assert "Traceback" not in text
    if before is not None:
        assert db is not None
        assert snapshot(db) == before


def actor(role: str) -> Actor:
    return Actor(login=f"test-{role}", role=Role(role))


def engine_for(path: Path) -> Engine:
    return make_engine(f"sqlite:///{path}")
