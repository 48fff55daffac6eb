"""The demo site: loaded in one go, callable at any hour, refused when already there."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy.engine import Engine

from cellcall.db import run_write
from cellcall.models.users import Role, UserCreate
from cellcall.services import auth, demo, users
from cellcall.services.actors import SYSTEM, shell_admin
from contacts_support import count, query
from foundation_support import REPO, assert_refused, audit_rows, snapshot


def test_demo_command_loads_the_whole_site(admin, engine: Engine, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = admin("demo")
    assert result.code == 0, result.err
    assert "demo-cellcall-2026" in result.out
    campaigns = {r[0]: r[1:] for r in query(
        db_path, "SELECT slug, type, audience, country, languages, dialing_mode, "
                 "ignore_calling_hours, script_path, status FROM campaigns")}
    assert campaigns["demo-rdv-b2b"][:6] == ("appointment", "business", "FR", '["fr"]',
                                              "preview", 1)
    assert campaigns["demo-enquete"][:6] == ("survey", "consumer", "FR", '["fr", "ru", "tr"]',
                                              "progressive", 1)
    assert campaigns["demo-rdv-b2b"][6].endswith("data/scripts/demo-rdv-b2b.yaml")
    assert campaigns["demo-enquete"][6].endswith("data/scripts/demo-enquete.yaml")
    assert query(db_path, "SELECT name FROM clients") == [("Démo Services",)]
    assert query(db_path, "SELECT name FROM stations") == [("demo-1",)]
    assert count(db_path, "contacts") >= 200
    # Every contact is callable by the simulated line and has what the scripts need.
    rows = query(db_path, "SELECT k.slug, c.phone_e164, c.language, c.company, "
                          "c.demo_behaviour, c.custom_fields, c.first_name, c.last_name "
                          "FROM contacts c JOIN campaigns k ON k.id = c.campaign_id")
    behaviours = Counter(r[4] for r in rows)
    assert set(behaviours) == {"answer", "busy", "no_answer", "hangup"}
    assert behaviours["answer"] > len(rows) // 2
    regions = Counter(phonenumbers.region_code_for_number(phonenumbers.parse(r[1]))
                      for r in rows)
    assert {"FR", "BE", "GP", "MQ"} <= set(regions)
    assert set(regions) - {"FR", "BE", "GP", "MQ"}  # and abroad
    survey_languages = {r[2] for r in rows if r[0] == "demo-enquete"}
    assert survey_languages == {"fr", "ru", "tr"}
    assert all(r[3] for r in rows if r[0] == "demo-rdv-b2b")  # B2B contacts: companies
    assert all({"Secteur", "Effectif"} <= set(json.loads(r[5]))
               for r in rows if r[0] == "demo-rdv-b2b")
    assert all(r[6] and r[7] for r in rows)
    consents = query(db_path, "SELECT count(consent_at) FROM contacts c JOIN campaigns k "
                              "ON k.id = c.campaign_id WHERE k.slug = 'demo-enquete'")
    assert 0 < consents[0][0] < 110
    # The three demo users log in with the public password and need not change it.
    logins = {r[0]: r[1:] for r in query(
        db_path, "SELECT login, role, languages, must_change_password FROM users")}
    assert logins == {"operateur": ("operator", '["fr", "ru", "tr"]', 0),
                      "superviseur": ("supervisor", '["fr"]', 0),
                      "admin": ("admin", '["fr"]', 0)}
    for login in logins:
        session = auth.authenticate(engine=engine, login=login, password=demo.DEMO_PASSWORD)
        assert not session.must_change_password
    actions = [r[2] for r in audit_rows(db_path)]
    assert actions.count("demo.load") == 1
    assert actions.count("contacts.import") == 2
    assert admin("audit", "verify").code == 0


def test_loading_twice_is_refused_and_writes_nothing(admin, engine: Engine,  # type: ignore[no-untyped-def]
                                                     db_path: Path) -> None:
    assert admin("demo").code == 0
    before = snapshot(db_path)
    assert_refused(admin("demo"), before=before, db=db_path)


def test_ensure_loads_once(engine: Engine, db_path: Path) -> None:
    assert demo.ensure_demo_site(engine=engine, actor=SYSTEM) is True
    contacts = count(db_path, "contacts")
    assert demo.ensure_demo_site(engine=engine, actor=SYSTEM) is False
    assert count(db_path, "contacts") == contacts


def test_a_site_with_an_admin_account_refuses_the_demo_whole(admin, engine: Engine,  # type: ignore[no-untyped-def]
                                                             db_path: Path) -> None:
    run_write(engine, lambda s: users.add_user(
        session=s, actor=shell_admin(), password="a-real-admin-secret",
        data=UserCreate(login="admin", display_name="Real admin", role=Role.ADMIN)))
    before = snapshot(db_path)
    result = admin("demo")
    assert_refused(result, before=before, db=db_path)
    assert "admin" in result.err
    assert count(db_path, "campaigns") == 0  # all or nothing


def test_the_demo_files_are_what_the_script_makes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_demo_contacts.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ("contacts-rdv-b2b.csv", "contacts-survey.csv"):
        assert (tmp_path / name).read_bytes() == (REPO / "data" / "demo" / name).read_bytes()


@pytest.mark.parametrize("name", ["contacts-rdv-b2b.csv", "contacts-survey.csv"])
def test_every_demo_number_is_valid(name: str) -> None:
    import csv

    path = REPO / "data" / "demo" / name
    with path.open(encoding="utf-8-sig", newline="") as fh:
        sample = fh.readline()
        fh.seek(0)
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        rows = list(csv.DictReader(fh, delimiter=delimiter))
    phone_key = "Téléphone" if "Téléphone" in rows[0] else "phone"
    for row in rows:
        number = phonenumbers.parse(row[phone_key], "FR")
        assert phonenumbers.is_valid_number(number), row[phone_key]
