"""Recordings older than the retention are purged, audited; nothing else is touched."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.db import run_write
from cellcall.errors import PermissionDeniedError
from cellcall.models.base import utcnow
from cellcall.models.calls import CallAttempt
from cellcall.models.users import Role, UserCreate
from cellcall.services import auth, users
from cellcall.services.actors import Actor, shell_admin
from cellcall.services.two_person import SecondPerson
from cellcall.telephony.recordings import purge_recordings
from telephony.support import Site, attempt_row, audit_rows, claim, make_site


def _recorded(site: Site, root: Path, days_ago: int, *, outside: Path | None = None) -> int:
    attempt_id = claim(site, state="ended")
    ended = utcnow() - timedelta(days=days_ago)
    path = (outside or root / f"{ended:%Y/%m/%d}") / f"attempt-{attempt_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + b"\0" * 2000)
    os.utime(path, (ended.timestamp(), ended.timestamp()))
    with Session(site.engine) as s:
        row = s.get(CallAttempt, attempt_id)
        assert row is not None
        row.ended_at, row.recording_path, row.recording_seconds = ended, str(path), 12.5
        s.commit()
    return attempt_id


SUPERVISOR_PASSWORD = "sup-secret-42"


def _second_person(engine: Engine) -> SecondPerson:
    """The two-person rule's second person: an active supervisor with her own password."""
    user, one_time = run_write(engine, lambda s: users.add_user(
        session=s, actor=shell_admin(), data=UserCreate(login="carol", display_name="Carol",
                                                        role=Role.SUPERVISOR)))
    auth.change_password(engine=engine, user_id=user.id or 0, old_password=one_time,
                         new_password=SUPERVISOR_PASSWORD)
    return SecondPerson(login="carol", password=SUPERVISOR_PASSWORD)


def test_old_recordings_go_recent_ones_stay(engine: Engine, tmp_path: Path) -> None:
    site = make_site(engine)
    root = tmp_path / "recordings"
    old = _recorded(site, root, 100)
    recent = _recorded(site, root, 10)
    outside = _recorded(site, root, 100, outside=tmp_path / "elsewhere")
    orphan = root / "2020" / "01" / "01" / "attempt-999.wav"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"RIFF")
    os.utime(orphan, (0, 0))

    dry = purge_recordings(engine=engine, actor=shell_admin(), root=root,
                           retention_days=90, dry_run=True)
    assert (dry.files, dry.rows) == (2, 1)
    assert Path(str(attempt_row(site, old).recording_path)).exists()
    assert audit_rows(site, "recordings.purge") == []

    result = purge_recordings(engine=engine, actor=shell_admin(), root=root,
                              retention_days=90, second_person=_second_person(engine))
    assert (result.files, result.rows) == (2, 1)
    old_row = attempt_row(site, old)
    assert old_row.recording_path is None and old_row.recording_seconds == 12.5
    assert not orphan.exists() and not orphan.parent.exists()
    recent_path = attempt_row(site, recent).recording_path
    assert recent_path is not None and Path(recent_path).exists()
    outside_path = attempt_row(site, outside).recording_path
    assert outside_path is not None and Path(outside_path).exists()
    assert len(audit_rows(site, "recordings.purge")) == 1


def test_only_an_admin_purges(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(PermissionDeniedError):
        purge_recordings(engine=engine, actor=Actor("sup", Role.SUPERVISOR),
                         root=tmp_path, retention_days=90)


def test_admin_command(engine: Engine, admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = make_site(engine)
    root = tmp_path / "data-dir" / "recordings"  # the test's data directory
    old = _recorded(site, root, 200)
    _second_person(engine)
    result = admin("recordings", "purge", "--days", "90", "--second-login", "carol",
                   "--second-password-stdin", stdin=SUPERVISOR_PASSWORD + "\n")
    assert result.code == 0, result.err
    assert "1 recordings" in result.out
    assert attempt_row(site, old).recording_path is None
    assert admin("recordings", "purge", "--days", "0").code != 0
