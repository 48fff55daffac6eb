"""Helpers for the contact import, do-not-call, export and demo tests."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session

from cellcall.db import make_engine, run_write
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.services import campaigns
from cellcall.services.actors import shell_admin

# Valid numbers, one per line of national notation, from phonenumbers' example ranges.
FR_MOBILES = [f"06 12 34 {i // 100:02d} {i % 100:02d}" for i in range(0, 10000, 7)]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], *,
              delimiter: str = ";", encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh, delimiter=delimiter)
        out.writerow(header)
        out.writerows(rows)
    return path


def add_campaign(db: Path, slug: str, *, type_: str = "survey", audience: str = "consumer",
                 country: str = "FR", languages: Sequence[str] = ("fr", "ru"),
                 client: str = "Acme") -> None:
    engine = make_engine(f"sqlite:///{db}")
    actor = shell_admin()

    def work(session: Session) -> None:
        try:
            campaigns.get_client(session=session, name=client)
        except Exception:
            campaigns.add_client(session=session, actor=actor, name=client)
        campaigns.create_campaign(session=session, actor=actor, data=CampaignCreate(
            slug=slug, client_name=client, type=CampaignType(type_),
            audience=Audience(audience), country=country, languages=list(languages)))

    run_write(engine, work)
    engine.dispose()


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count(db: Path, table: str) -> int:
    return int(query(db, f'SELECT count(*) FROM "{table}"')[0][0])


def read_csv(path: Path, delimiter: str = ";") -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh, delimiter=delimiter))
