"""Two-person rule: exporting contact data with the numbers and purging recordings need a
second, different, active admin or supervisor, authenticated like any login."""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from cellcall.errors import PermissionDeniedError
from cellcall.models.base import utcnow
from cellcall.models.users import Role
from cellcall.services import exports
from cellcall.services.actors import Actor, shell_admin
from cellcall.telephony.recordings import purge_recordings
from foundation_support import assert_refused, run_admin_process, snapshot
from quality_support import (
    QualitySite,
    add_call,
    audit_actions,
    password_of,
    quality_fixtures,
    rows,
)


def _yesterdays_call(site: QualitySite) -> None:
    engine = site.engine()
    add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["enquete"],
             claimed_at=utcnow() - timedelta(days=1))
    engine.dispose()


template, site, engine = quality_fixtures("two-person", _yesterdays_call)


def _export(admin, out: Path, *second: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return admin("results", "export", "enquete", "--out", str(out), *second, stdin=stdin)


def _failed_attempts(site: QualitySite, login: str) -> int:
    return int(rows(site.path, "SELECT failed_attempts FROM users WHERE login = ?", login)[0][0])


def test_an_export_with_numbers_needs_a_second_person(admin, site: QualitySite,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    before = snapshot(site.path)
    result = _export(admin, out)
    assert_refused(result, before=before, db=site.path)
    assert "second person" in result.err and "--second-login" in result.err
    assert not out.exists() and list(tmp_path.glob(".r.csv*")) == []


def test_a_confirmed_export_names_both_people(admin, site: QualitySite,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    result = _export(admin, out, "--second-login", "Ada", "--second-password-stdin",
                     stdin=password_of("ada") + "\n")
    assert result.code == 0, result.err
    assert out.is_file() and "+336123" in out.read_text(encoding="utf-8-sig")
    (actor, target, details), = audit_actions(site.path, "results.export")
    assert actor == shell_admin().login and target == "enquete"
    assert json.loads(details)["second_person"] == "ada"
    assert json.loads(details)["with_numbers"] is True


def test_an_export_without_numbers_needs_nobody(admin, site: QualitySite, engine: Engine,  # type: ignore[no-untyped-def]
                                                tmp_path: Path) -> None:
    result = admin("results", "export", "enquete", "--out", str(tmp_path / "a.csv"),
                   "--without-numbers")
    assert result.code == 0, result.err
    # A supervisor's export never has the numbers: no second person either.
    summary = exports.export_results(engine=engine, actor=Actor("sam", Role.SUPERVISOR),
                                     slug="enquete", out=tmp_path / "b.csv")
    assert summary.with_numbers is False
    assert [json.loads(d).get("second_person") for _a, _t, d in
            audit_actions(site.path, "results.export")] == [None, None]


@pytest.mark.parametrize("case", ["wrong-password", "operator", "disabled", "one-time-password",
                                  "unknown-login", "same-person", "empty-password",
                                  "no-password-source"])
def test_who_cannot_be_the_second_person(admin, site: QualitySite, tmp_path: Path,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    login, password = {
        "wrong-password": ("sam", "not-the-password"),
        "operator": ("olga", password_of("olga")),
        "disabled": ("gone", password_of("gone")),
        "one-time-password": ("newbie", password_of("newbie")),
        "unknown-login": ("nobody", "whatever-123"),
        "same-person": ("sam", password_of("sam")),
        "empty-password": ("sam", ""),
        "no-password-source": ("sam", password_of("sam")),
    }[case]
    if case == "same-person":
        monkeypatch.setenv("LOGNAME", "sam")  # the shell admin is the server account "sam"
    out = tmp_path / "r.csv"
    args = ["--second-login", login]
    if case != "no-password-source":
        args.append("--second-password-stdin")
    result = _export(admin, out, *args, stdin=password + "\n")
    assert_refused(result)
    assert not out.exists() and list(tmp_path.glob(".r.csv*")) == []
    assert audit_actions(site.path, "results.export") == []
    if case == "wrong-password":
        assert _failed_attempts(site, "sam") == 1  # counts toward sam's lockout
        assert audit_actions(site.path, "login.failed")[-1][1] == "sam"
    if case in ("same-person", "empty-password", "no-password-source"):
        # Refused before any login: nothing at all was written.
        assert audit_actions(site.path, "login.failed") == []
        assert audit_actions(site.path, "login") == []


def test_failed_second_logins_lock_the_account(admin, site: QualitySite,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    for _ in range(5):  # [security] lockout_threshold
        assert _export(admin, out, "--second-login", "sue", "--second-password-stdin",
                       stdin="wrong-password-1\n").code == 1
    locked = _export(admin, out, "--second-login", "sue", "--second-password-stdin",
                     stdin=password_of("sue") + "\n")
    assert_refused(locked)
    assert not out.exists()
    assert rows(site.path, "SELECT locked_until IS NOT NULL FROM users WHERE login = 'sue'") \
        == [(1,)]


def test_the_password_is_asked_for_on_a_terminal(admin, site: QualitySite, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return password_of("sam")

    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr("cellcall.admin.two_person.getpass.getpass", fake_getpass)
    result = _export(admin, tmp_path / "r.csv", "--second-login", "sam")
    assert result.code == 0, result.err
    assert asked and "sam" in asked[0]


# --- recordings purge ---------------------------------------------------------------------

def _old_recording(site: QualitySite, engine: Engine, tmp_path: Path) -> tuple[int, Path]:
    wav = tmp_path / "data-dir" / "recordings" / "2020" / "attempt.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"RIFF" + b"\0" * 100)
    attempt = add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["enquete"],
                       claimed_at=utcnow() - timedelta(days=400), recording=wav)
    return attempt, wav


def _path_of(site: QualitySite, attempt: int) -> str | None:
    return rows(site.path, "SELECT recording_path FROM call_attempts WHERE id = ?",
                attempt)[0][0]  # type: ignore[no-any-return]


def test_a_purge_needs_a_second_person(admin, site: QualitySite, engine: Engine,  # type: ignore[no-untyped-def]
                                       tmp_path: Path) -> None:
    attempt, wav = _old_recording(site, engine, tmp_path)
    before = snapshot(site.path)
    assert_refused(admin("recordings", "purge", "--days", "90"), before=before, db=site.path)
    assert_refused(admin("recordings", "purge", "--days", "90", "--second-login", "olga",
                         "--second-password-stdin", stdin=password_of("olga") + "\n"))
    assert wav.is_file() and _path_of(site, attempt) == str(wav)
    assert audit_actions(site.path, "recordings.purge") == []
    with pytest.raises(PermissionDeniedError):
        purge_recordings(engine=engine, actor=shell_admin(), root=wav.parent.parent,
                         retention_days=90)

    dry = admin("recordings", "purge", "--days", "90", "--dry-run")
    assert dry.code == 0 and "would be deleted" in dry.out  # counting needs nobody
    assert wav.is_file()

    done = admin("recordings", "purge", "--days", "90", "--second-login", "sue",
                 "--second-password-stdin", stdin=password_of("sue") + "\n")
    assert done.code == 0, done.err
    assert not wav.exists() and _path_of(site, attempt) is None
    (actor, _target, details), = audit_actions(site.path, "recordings.purge")
    assert actor == shell_admin().login and json.loads(details)["second_person"] == "sue"


def test_the_real_command_reads_the_second_password_from_stdin(site: QualitySite,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    refused = run_admin_process(site.path, "results", "export", "enquete", "--out", str(out),
                                "--second-login", "sam", "--second-password-stdin",
                                stdin="wrong-password-1\n")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert not out.exists()
    done = run_admin_process(site.path, "results", "export", "enquete", "--out", str(out),
                             "--second-login", "sam", "--second-password-stdin",
                             stdin=password_of("sam") + "\n")
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    assert json.loads(audit_actions(site.path, "results.export")[0][2])["second_person"] == "sam"
