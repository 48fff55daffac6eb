"""Online backup of the live SQLite database, while stations keep working.

The copy is made with SQLite's backup API in steps of a few hundred pages, into a temporary
file in the destination's folder; the copy is then checked with ``PRAGMA integrity_check``
and only then moved onto the destination name (``os.replace``: atomic on one file system).
On any failure the temporary file is removed and the destination is left as it was.

In WAL mode a backup step only holds a read snapshot, so writers are never blocked. A write
by another connection makes SQLite restart a paged backup from the first page; if writers
keep doing that, the copy falls back to one step over a single consistent snapshot (still
non-blocking in WAL mode) so that a busy site cannot starve the backup.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from cellcall.db import run_write
from cellcall.errors import CellcallError, ValidationError
from cellcall.i18n import _
from cellcall.models.users import Role
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role

PAGES_PER_STEP = 256
# Paged restarts tolerated (another connection wrote) before copying in one step.
MAX_RESTARTS = 3

ProgressCallback = Callable[[int, int], None]
"""Called with (pages copied, total pages) after each step."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    pages: int


class _Restarted(Exception):
    """Raised from the progress callback to stop a paged backup that keeps restarting."""


def sqlite_file_of(url: str) -> Path:
    """The file behind a SQLite URL; refuse any other database with a clear message."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValidationError(_("Not a database URL: {url}").format(url=url)) from None
    if parsed.get_backend_name() != "sqlite":
        raise ValidationError(_(
            "'backup' works on SQLite databases only; back up a {backend} database with its "
            "own tools (for PostgreSQL: pg_dump).").format(backend=parsed.get_backend_name()))
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise ValidationError(_("An in-memory database cannot be backed up."))
    return Path(database).resolve()


def _check_destination(out: Path, live: Path, *, force: bool) -> None:
    live_names = {live, Path(f"{live}-wal"), Path(f"{live}-shm"), Path(f"{live}-journal")}
    if out in live_names:
        raise ValidationError(_("The backup must not overwrite the live database itself."))
    if out.is_dir():
        raise ValidationError(_("{path} is a folder; give a file name for the backup.").format(
            path=out))
    if not out.parent.is_dir():
        raise ValidationError(_("Folder not found: {path}").format(path=out.parent))
    if out.exists() and not force:
        raise ValidationError(_(
            "{path} already exists; use --force to overwrite it.").format(path=out))


def _remove_quietly(path: Path) -> None:
    for name in (str(path), f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _copy(source: Path, target: Path, *, busy_timeout_ms: int, pages_per_step: int,
          progress: ProgressCallback | None) -> int:
    """Copy ``source`` into ``target`` with the backup API; return the page count."""
    src = sqlite3.connect(str(source), timeout=busy_timeout_ms / 1000)
    try:
        dst = sqlite3.connect(str(target))
        try:
            last_remaining: int | None = None
            restarts = 0
            total_pages = 0

            def on_step(_status: int, remaining: int, total: int) -> None:
                nonlocal last_remaining, restarts, total_pages
                total_pages = total
                # Every step copies pages, so no progress means it started over (or waited).
                if last_remaining is not None and remaining >= last_remaining:
                    restarts += 1
                    if restarts > MAX_RESTARTS:
                        raise _Restarted
                last_remaining = remaining
                if progress is not None:
                    progress(total - remaining, total)

            try:
                src.backup(dst, pages=pages_per_step, progress=on_step)
            except _Restarted:
                # One step over one snapshot: consistent, and WAL readers block no writer.
                src.backup(dst, pages=-1)
            page_count = int(dst.execute("PRAGMA page_count").fetchone()[0])
            if progress is not None:
                progress(page_count, page_count)
            # A self-contained file: no -wal beside it once moved into place.
            dst.execute("PRAGMA journal_mode = DELETE").fetchone()
            return page_count or total_pages
        finally:
            dst.close()
    finally:
        src.close()


def _integrity_problem(path: Path) -> str | None:
    """``None`` when ``PRAGMA integrity_check`` says ok, else its first complaint."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    finally:
        conn.close()
    return None if rows == ["ok"] else (rows[0] if rows else "no answer")


def backup_database(*, engine: Engine, actor: Actor, out: Path, force: bool = False,
                    busy_timeout_ms: int = 15000, pages_per_step: int = PAGES_PER_STEP,
                    progress: ProgressCallback | None = None) -> BackupResult:
    """Back up the live database behind ``engine`` to ``out``; audited as ``backup``."""
    require_role(actor, [Role.ADMIN])
    live = sqlite_file_of(str(engine.url))
    out = Path(out).expanduser().resolve()
    if not live.is_file():  # sqlite3.connect would create an empty file
        raise ValidationError(_("No database at {path}.").format(path=live))
    _check_destination(out, live, force=force)

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise CellcallError(_("Cannot write in {path}: {error}").format(
            path=out.parent, error=exc.strerror or exc)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            pages = _copy(live, tmp, busy_timeout_ms=busy_timeout_ms,
                          pages_per_step=pages_per_step, progress=progress)
            problem = _integrity_problem(tmp)
        except sqlite3.Error as exc:
            raise CellcallError(_("The backup failed: {error}").format(error=exc)) from exc
        if problem is not None:
            raise CellcallError(_(
                "The backup copy failed its integrity check ({problem}); nothing was written."
            ).format(problem=problem))
        size = tmp.stat().st_size

        def record_and_move(session: Session) -> BackupResult:
            # The move is the transaction's last step: if it fails, the audit row is rolled
            # back; the write lock is already held (BEGIN IMMEDIATE), so the commit that
            # follows does not wait on another writer.
            audit.record(session=session, actor=actor, action="backup", target=str(out),
                         details={"path": str(out), "size": size, "pages": pages})
            if not force and out.exists():  # created meanwhile by someone else
                raise ValidationError(_(
                    "{path} already exists; use --force to overwrite it.").format(path=out))
            try:
                os.replace(tmp, out)
            except OSError as exc:
                raise CellcallError(_("Cannot write {path}: {error}").format(
                    path=out, error=exc.strerror or exc)) from None
            return BackupResult(path=out, size=size, pages=pages)

        return run_write(engine, record_and_move)
    except BaseException:
        _remove_quietly(tmp)
        raise
