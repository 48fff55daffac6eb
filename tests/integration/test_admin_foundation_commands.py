"""Every foundation admin command: its happy path, and its bad inputs refused with one line,
no traceback and nothing written (table contents and audit rows compared before/after)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellcall.services import auth
from foundation_support import (
    ALICE_PASSWORD,
    assert_refused,
    audit_rows,
    engine_for,
    snapshot,
)


def last_audit(db: Path) -> tuple[object, ...]:
    return audit_rows(db)[-1]


# --- init -------------------------------------------------------------------------------


def test_init_creates_then_second_init_writes_nothing(admin, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = admin("init")
    assert first.code == 0, first.err
    assert "schema" in first.out
    rows = audit_rows(db_path)
    assert [r[2] for r in rows] == ["schema.init"]
    before = snapshot(db_path)
    second = admin("init")
    assert second.code == 0, second.err
    assert "nothing to do" in second.out
    assert snapshot(db_path) == before


# --- users ------------------------------------------------------------------------------


def test_user_add_prints_a_one_time_password_that_works(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    r = admin("user", "add", "Carol", "--role", "supervisor", "--name", "Carol C",
              "--languages", "fr,TR", "--ui-language", "en")
    assert r.code == 0, r.err
    assert "carol" in r.out
    password = r.out.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    engine = engine_for(site)
    logged = auth.authenticate(engine=engine, login="carol", password=password)
    engine.dispose()
    assert logged.must_change_password
    assert logged.languages == ("fr", "tr")
    assert logged.ui_language == "en"
    row = last_audit(site)
    assert row[2] == "login" and row[3] == "carol"
    add_row = audit_rows(site)[-2]
    assert add_row[2] == "user.add" and add_row[3] == "carol"
    assert password not in str(audit_rows(site))


def test_user_add_with_password_stdin(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    r = admin("user", "add", "dave", "--role", "admin", "--name", "Dave",
              "--password-stdin", stdin="correct horse battery\n")
    assert r.code == 0, r.err
    assert "One-time password" not in r.out
    engine = engine_for(site)
    logged = auth.authenticate(engine=engine, login="dave", password="correct horse battery")
    engine.dispose()
    assert logged.role == "admin"


def test_user_list_shows_states(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    r = admin("user", "list")
    assert r.code == 0, r.err
    lines = r.out.strip().splitlines()
    assert lines[0].split("\t")[0] == "login"
    by_login = {line.split("\t")[0]: line for line in lines[1:]}
    assert set(by_login) == {"alice", "bob"}
    assert "fr,ru" in by_login["alice"]
    assert by_login["bob"].endswith("disabled")


def test_user_disable_enable_unlock_reset(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    assert admin("user", "disable", "alice").code == 0
    assert last_audit(site)[2:4] == ("user.disable", "alice")
    engine = engine_for(site)
    with pytest.raises(auth.LoginFailedError):
        auth.authenticate(engine=engine, login="alice", password=ALICE_PASSWORD)
    assert admin("user", "enable", "alice").code == 0
    assert last_audit(site)[2:4] == ("user.enable", "alice")
    assert admin("user", "unlock", "alice").code == 0
    assert last_audit(site)[2:4] == ("user.unlock", "alice")
    r = admin("user", "reset-password", "alice")
    assert r.code == 0, r.err
    assert last_audit(site)[2:4] == ("user.reset-password", "alice")
    new_password = r.out.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    with pytest.raises(auth.LoginFailedError):
        auth.authenticate(engine=engine, login="alice", password=ALICE_PASSWORD)
    assert auth.authenticate(engine=engine, login="alice",
                             password=new_password).must_change_password
    engine.dispose()


def test_user_reset_password_from_stdin(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    r = admin("user", "reset-password", "alice", "--password-stdin",
              stdin="a brand new secret\n")
    assert r.code == 0, r.err
    assert "One-time password" not in r.out
    engine = engine_for(site)
    assert auth.authenticate(engine=engine, login="alice", password="a brand new secret")
    engine.dispose()


# --- stations, clients, campaigns -------------------------------------------------------


def test_station_add_and_list(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    assert admin("station", "add", "poste-2", "--desk-phone", "sips:p2@10.0.0.5:5061").code == 0
    assert admin("station", "add", "poste-3").code == 0
    assert last_audit(site)[2:4] == ("station.add", "poste-3")
    r = admin("station", "list")
    assert r.code == 0
    lines = r.out.strip().splitlines()[1:]
    assert lines == ["poste-1\tsip:poste1@pbx.local", "poste-2\tsips:p2@10.0.0.5:5061",
                     "poste-3\t-"]


def test_client_campaign_create_list_close(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "script.yaml"
    script.write_text("start: hello\n", encoding="utf-8")
    assert admin("client", "add", "  Globex  ").code == 0
    assert last_audit(site)[2:4] == ("client.add", "Globex")
    r = admin("campaign", "create", "rdv-b2b", "--client", "Globex", "--type", "appointment",
              "--audience", "business", "--country", "be", "--script", str(script),
              "--languages", "fr,nl")
    assert r.code == 0, r.err
    assert last_audit(site)[2:4] == ("campaign.create", "rdv-b2b")
    listing = admin("campaign", "list")
    assert listing.code == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in listing.out.splitlines()[1:]}
    assert rows["rdv-b2b"][1:7] == ["Globex", "appointment", "business", "BE", "fr,nl",
                                     "active"]
    assert rows["camp-closed"][6] == "closed"
    assert admin("campaign", "close", "rdv-b2b").code == 0
    assert last_audit(site)[2:4] == ("campaign.close", "rdv-b2b")
    listing = admin("campaign", "list")
    assert "rdv-b2b\tGlobex\tappointment\tbusiness\tBE\tfr,nl\tclosed" in listing.out


def test_audit_verify_on_an_intact_site(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    r = admin("audit", "verify")
    assert r.code == 0, r.err
    assert f"{len(audit_rows(site))} rows" in r.out


# --- refusals ---------------------------------------------------------------------------

USER = ("user", "add")
CAMPAIGN = ("campaign", "create")
GOOD_CAMPAIGN = ("--client", "Acme", "--type", "survey", "--audience", "consumer",
                 "--country", "FR")

REFUSALS: list[tuple[tuple[str, ...], str | None]] = [
    ((*USER, "1carol", "--role", "operator", "--name", "C"), None),
    ((*USER, "c", "--role", "operator", "--name", "C"), None),
    ((*USER, "car ol", "--role", "operator", "--name", "C"), None),
    ((*USER, "carol;drop", "--role", "operator", "--name", "C"), None),
    ((*USER, "carol", "--role", "boss", "--name", "C"), None),
    ((*USER, "carol", "--name", "C"), None),
    ((*USER, "alice", "--role", "operator", "--name", "Alice again"), None),
    ((*USER, "ALICE", "--role", "operator", "--name", "Alice again"), None),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--languages", "fr,qq9"), None),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--languages", ","), None),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--ui-language", "de"), None),
    ((*USER, "carol", "--role", "operator", "--name", "   "), None),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--password-stdin"), "short7c\n"),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--password-stdin"), "password1\n"),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--password-stdin"),
     "AzertyUiop\n"),
    ((*USER, "carolcarol", "--role", "operator", "--name", "C", "--password-stdin"),
     "CarolCarol\n"),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--password-stdin"), ""),
    ((*USER, "carol", "--role", "operator", "--name", "C", "--password-stdin"), "x" * 129),
    (("user", "disable", "nobody"), None),
    (("user", "disable", "bob"), None),
    (("user", "enable", "alice"), None),
    (("user", "unlock", "nobody"), None),
    (("user", "reset-password", "nobody"), None),
    (("user", "reset-password", "alice", "--password-stdin"), "1234567\n"),
    (("user", "reset-password", "alice", "--password-stdin"), "motdepasse\n"),
    (("user", "reset-password", "nobody", "--password-stdin"), "a fine long secret\n"),
    (("station", "add", "poste-1"), None),
    (("station", "add", "poste 2"), None),
    (("station", "add", "-poste"), None),
    (("station", "add", "poste-2", "--desk-phone", "http://pbx.local/p2"), None),
    (("station", "add", "poste-2", "--desk-phone", "sip:nohost"), None),
    (("station", "add", "poste-2", "--desk-phone", "sip:p2@pbx local"), None),
    (("station", "add", "poste-2", "--desk-phone", "<sip:p2@pbx>"), None),
    (("client", "add", "Acme"), None),
    (("client", "add", "   "), None),
    (("client", "add", "x" * 201), None),
    ((*CAMPAIGN, "camp-2", "--client", "Nobody", "--type", "survey", "--audience", "consumer",
      "--country", "FR"), None),
    ((*CAMPAIGN, "camp-2", "--client", "Acme", "--type", "cold-calling", "--audience",
      "consumer", "--country", "FR"), None),
    ((*CAMPAIGN, "camp-2", "--client", "Acme", "--type", "survey", "--audience", "martians",
      "--country", "FR"), None),
    ((*CAMPAIGN, "camp-2", "--client", "Acme", "--type", "survey", "--audience", "consumer",
      "--country", "XX"), None),
    ((*CAMPAIGN, "camp-2", "--client", "Acme", "--type", "survey", "--audience", "consumer",
      "--country", "FRA"), None),
    ((*CAMPAIGN, "camp-2", *GOOD_CAMPAIGN, "--script", "/nonexistent/script.yaml"), None),
    ((*CAMPAIGN, "camp-2", *GOOD_CAMPAIGN, "--script", "/"), None),
    ((*CAMPAIGN, "camp-1", *GOOD_CAMPAIGN), None),
    ((*CAMPAIGN, "Camp_2", *GOOD_CAMPAIGN), None),
    ((*CAMPAIGN, "camp-2", *GOOD_CAMPAIGN, "--languages", "fr,qq9"), None),
    ((*CAMPAIGN, "camp-2", "--client", "Acme", "--type", "survey", "--audience", "consumer"),
     None),
    (("campaign", "close", "camp-closed"), None),
    (("campaign", "close", "nope"), None),
    (("user", "frobnicate"), None),
    (("--config", "/nonexistent/cellcall.toml", "user", "list"), None),
]


@pytest.mark.parametrize(("args", "stdin"), REFUSALS, ids=[" ".join(a)[:60] for a, _ in REFUSALS])
def test_bad_input_is_refused_and_nothing_is_written(  # type: ignore[no-untyped-def]
        admin, site: Path, args: tuple[str, ...], stdin: str | None) -> None:
    before = snapshot(site)
    result = admin(*args, stdin=stdin)
    assert_refused(result, before=before, db=site)


def test_closing_twice_is_refused(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    assert admin("campaign", "close", "camp-1").code == 0
    before = snapshot(site)
    assert_refused(admin("campaign", "close", "camp-1"), before=before, db=site)


def test_real_command_in_its_own_process_refuses_cleanly(site: Path) -> None:
    from foundation_support import run_admin_process

    before = snapshot(site)
    proc = run_admin_process(site, "station", "add", "poste-1")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert snapshot(site) == before


# --- usage errors in the admin's language -----------------------------------------------

USAGE_ERRORS = [
    (("user", "add"), "Missing argument 'login'.", "Argument manquant : 'login'."),
    (("user", "add", "carol", "--name", "Carol"), "Missing option '--role'.",
     "Option manquante : '--role'. Valeurs possibles : operator, supervisor, admin"),
    (("user", "add", "carol", "--role", "chef", "--name", "Carol"),
     "Invalid value for '--role':",
     "Valeur non valide pour '--role' : 'chef' ne fait pas partie de 'operator', "
     "'supervisor', 'admin'."),
    (("user", "frobnicate"), "No such command 'frobnicate'.", "Commande inconnue : 'frobnicate'."),
    (("--bogus", "user", "list"), "No such option: --bogus", "Option inconnue : --bogus"),
    (("user", "add", "carol", "--rol", "operator", "--name", "Carol"),
     "No such option: --rol (Possible options: --role)",
     "Option inconnue : --rol (options possibles : --role)"),
    (("user", "list", "extra"), "Got unexpected extra argument(s) (extra)",
     "Argument(s) en trop : extra"),
    (("user", "add", "carol", "--role"), "Option '--role' requires an argument.",
     "L'option '--role' attend une valeur."),
]


@pytest.mark.parametrize(("args", "english", "french"), USAGE_ERRORS,
                         ids=[" ".join(a) for a, _, _ in USAGE_ERRORS])
def test_usage_errors_speak_the_admins_language(  # type: ignore[no-untyped-def]
        admin, site: Path, args: tuple[str, ...], english: str, french: str) -> None:
    from cellcall.i18n import set_language

    before = snapshot(site)
    in_english = admin(*args)
    assert in_english.code == 2
    assert english in in_english.err
    set_language("fr")
    try:
        in_french = admin(*args)
    finally:
        set_language("en")
    assert in_french.code == 2
    assert in_french.err.strip() == f"cellcall-admin : {french}"
    assert snapshot(site) == before
