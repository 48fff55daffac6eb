"""``backup OUT``: an online copy, checked, moved into place, audited; refusals leave no
file behind; a copy taken while another process keeps writing is intact and usable."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from cellcall.db import make_engine, read_session, run_write
from cellcall.errors import CellcallError
from cellcall.models.users import StationCreate
from cellcall.services import audit, backup, stations
from cellcall.services.actors import shell_admin
from cellcall.services.schema import require_current_schema
from foundation_support import assert_refused, audit_rows, file_digest, snapshot


def integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_backup_writes_a_checked_audited_copy(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    out = out_dir / "site.sqlite3"
    r = admin("backup", str(out))
    assert r.code == 0, r.err
    assert "integrity ok" in r.out
    assert integrity(out) == ["ok"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["site.sqlite3"], "no temp file left"
    _id, _actor, action, target, details = audit_rows(site)[-1]
    assert action == "backup" and target == str(out)
    info = json.loads(details)
    assert info == {"path": str(out), "size": out.stat().st_size, "pages": info["pages"]}
    assert info["pages"] * 4096 >= out.stat().st_size > 0
    # The copy is a cellcall database in its own right.
    engine = make_engine(f"sqlite:///{out}")
    require_current_schema(engine)
    with read_session(engine) as session:
        assert audit.verify(session=session).ok
    engine.dispose()
    assert snapshot(out)["users"] == snapshot(site)["users"]
    verify = admin("--db", str(out), "audit", "verify", db=False)
    assert verify.code == 0, verify.err


def test_existing_out_is_kept_unless_force(admin, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "copy.sqlite3"
    out.write_bytes(b"yesterday's backup")
    before = snapshot(site)
    r = admin("backup", str(out))
    assert_refused(r, before=before, db=site)
    assert "--force" in r.err
    assert out.read_bytes() == b"yesterday's backup"
    assert leftovers(tmp_path) == []
    assert admin("backup", str(out), "--force").code == 0
    assert integrity(out) == ["ok"]


@pytest.mark.parametrize("target", ["live", "live-wal", "folder", "missing-folder"])
def test_bad_destinations_are_refused(admin, site: Path, tmp_path: Path, target: str) -> None:  # type: ignore[no-untyped-def]
    out = {"live": site, "live-wal": Path(f"{site}-wal"), "folder": tmp_path,
           "missing-folder": tmp_path / "nope" / "copy.sqlite3"}[target]
    before = snapshot(site)
    digest = file_digest(site)
    assert_refused(admin("backup", str(out), "--force"), before=before, db=site)
    assert file_digest(site) == digest
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "nope").exists()


def test_other_databases_are_refused_with_a_clear_line(admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "copy.sqlite3"
    r = admin("--db", "postgresql://cellcall@127.0.0.1:9/cellcall", "backup", str(out), db=False)
    assert_refused(r)
    assert "SQLite" in r.err
    assert not out.exists()
    with pytest.raises(CellcallError, match="in-memory"):
        backup.sqlite_file_of("sqlite://")


def test_failure_after_the_copy_leaves_nothing_behind(site: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{site}")
    out = tmp_path / "copy.sqlite3"
    before = snapshot(site)

    def refuse(*_args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(backup.os, "replace", refuse)
    with pytest.raises(CellcallError, match="Permission denied"):
        backup.backup_database(engine=engine, actor=shell_admin(), out=out)
    monkeypatch.undo()
    monkeypatch.setattr(backup, "_integrity_problem", lambda _path: "page 7 is never used")
    with pytest.raises(CellcallError, match="integrity check"):
        backup.backup_database(engine=engine, actor=shell_admin(), out=out)
    engine.dispose()
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert snapshot(site) == before, "no audit row for a backup that was not made"


def test_paged_copy_restarted_by_writes_still_finishes(site: Path, tmp_path: Path) -> None:
    """Each write by another connection restarts a paged backup; after a few restarts the
    copy is taken in one step over one snapshot instead of starving."""
    engine = make_engine(f"sqlite:///{site}")
    seen: list[tuple[int, int]] = []
    writes = 0

    def write_between_steps(copied: int, total: int) -> None:
        nonlocal writes
        seen.append((copied, total))
        if copied < total:
            writes += 1
            run_write(engine, lambda s: stations.add_station(
                session=s, actor=shell_admin(),
                data=StationCreate(name=f"between-{writes}")))

    out = tmp_path / "copy.sqlite3"
    result = backup.backup_database(engine=engine, actor=shell_admin(), out=out,
                                    pages_per_step=2, progress=write_between_steps)
    restarts = sum(1 for a, b in itertools.pairwise(seen) if b[0] <= a[0])
    assert 1 <= restarts <= backup.MAX_RESTARTS + 1, seen
    assert seen[-1][0] == seen[-1][1] == result.pages
    assert integrity(out) == ["ok"]
    copy = sqlite3.connect(out)
    copied_stations = copy.execute("SELECT count(*) FROM stations").fetchone()[0]
    copy.close()
    assert 1 + 1 <= copied_stations <= 1 + writes
    engine.dispose()


WRITER = r"""
import sys, time
from pathlib import Path
from cellcall.db import make_engine, run_write
from cellcall.models.users import StationCreate
from cellcall.services import stations
from cellcall.services.actors import shell_admin

db, stop = sys.argv[1], Path(sys.argv[2])
engine = make_engine(f"sqlite:///{db}")
n = 0
deadline = time.monotonic() + 60
while not stop.exists() and time.monotonic() < deadline:
    run_write(engine, lambda s: stations.add_station(
        session=s, actor=shell_admin(), data=StationCreate(name=f"live-{n:05d}")))
    n += 1
    Path(f"{stop}.tmp").write_text(str(n))
    Path(f"{stop}.tmp").replace(f"{stop}.count")  # atomic: the test never reads it half-written
print(n)
"""


def test_backup_during_writes_restores_to_an_intact_database(  # type: ignore[no-untyped-def]
        admin, site: Path, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(site), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    count_file = Path(f"{stop}.count")
    out = tmp_path / "during.sqlite3"
    try:
        deadline = time.monotonic() + 60
        while (not count_file.exists() or int(count_file.read_text()) < 20) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        written_before = int(count_file.read_text())
        engine = make_engine(f"sqlite:///{site}")
        result = backup.backup_database(engine=engine, actor=shell_admin(), out=out,
                                        pages_per_step=1)
        engine.dispose()
        written_after = int(count_file.read_text())
        assert writer.poll() is None, "the writer kept working during the backup"
    finally:
        stop.touch()
        out_text, err_text = writer.communicate(timeout=60)
    assert writer.returncode == 0, err_text
    assert written_after > written_before, "the backup overlapped live writes"
    assert result.pages > 0
    assert integrity(out) == ["ok"]
    # Restore: the copy opens with cellcall, its audit chain is intact, its rows consistent.
    restored = tmp_path / "restored.sqlite3"
    shutil.copyfile(out, restored)
    verify = admin("--db", str(restored), "audit", "verify", db=False)
    assert verify.code == 0, verify.err
    listing = admin("--db", str(restored), "station", "list", db=False)
    assert listing.code == 0
    live_in_copy = sum(1 for line in listing.out.splitlines() if line.startswith("live-"))
    copy_rows = audit_rows(restored)
    assert sum(1 for r in copy_rows if r[3].startswith("live-")) == live_in_copy
    assert written_before <= live_in_copy <= int(out_text)
    # The live database is intact too, with every write and the backup's own audit row.
    engine: Engine = make_engine(f"sqlite:///{site}")
    with read_session(engine) as session:
        assert audit.verify(session=session).ok
    engine.dispose()
    assert "backup" in [r[2] for r in audit_rows(site)]
