"""Call recordings on disk: where they live and their purge after the retention period.

The purge first clears the rows (recording path gone, duration kept) and writes its audit
row in one transaction, then deletes the files; a file that could not be deleted, or that
no row points to any more (a crashed process), is swept by the next purge once it is older
than the retention. Only files under the recordings directory are ever deleted. A purge
(not a dry run) falls under the two-person rule (``services.two_person``): a second admin
or supervisor confirms it, and the audit row names both.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cellcall.config import Config
from cellcall.db import run_write
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.calls import CallAttempt
from cellcall.models.users import Role
from cellcall.services import audit, two_person
from cellcall.services.actors import Actor, require_role


def recordings_root(config: Config, configured: str = "") -> Path:
    """``[telephony] recordings_dir``, or ``<data_dir>/recordings`` when it is empty."""
    return Path(configured).expanduser() if configured else Path(config.data_dir) / "recordings"


@dataclass(frozen=True)
class PurgeResult:
    files: int
    bytes: int
    rows: int
    cutoff: datetime


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def purge_recordings(*, engine: Engine, actor: Actor, root: Path, retention_days: int,
                     now: datetime | None = None, dry_run: bool = False,
                     second_person: two_person.SecondPerson | None = None) -> PurgeResult:
    """Delete the recordings of calls that ended more than ``retention_days`` ago; unless
    it is a dry run, ``second_person`` must confirm (two-person rule)."""
    require_role(actor, [Role.ADMIN])
    if retention_days < 1:
        raise ValidationError(_("The retention must be at least one day."))
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    witness = None if dry_run else two_person.confirm(engine=engine, actor=actor,
                                                      second=second_person)

    def old_rows(session: Session) -> list[tuple[int, str]]:
        rows = session.exec(select(CallAttempt.id, CallAttempt.recording_path).where(
            col(CallAttempt.recording_path).is_not(None),
            col(CallAttempt.ended_at) < cutoff)).all()
        # A row pointing outside the recordings directory is not ours to purge.
        return [(int(i or 0), str(p)) for i, p in rows if p and _inside(root, Path(p))]

    def clear(session: Session) -> list[tuple[int, str]]:
        rows = old_rows(session)
        ids = [i for i, _p in rows]
        for start in range(0, len(ids), 500):
            session.execute(
                update(CallAttempt).where(col(CallAttempt.id).in_(ids[start:start + 500]))
                .values(recording_path=None).execution_options(synchronize_session=False))
        audit.record(session=session, actor=actor, action="recordings.purge",
                     target=str(root)[:200],
                     details={"rows": len(rows), "retention_days": retention_days,
                              "cutoff": cutoff.isoformat(), "second_person": witness})
        return rows

    if dry_run:
        with Session(engine) as session:
            rows = old_rows(session)
    else:
        rows = run_write(engine, clear)
    paths = {Path(p) for _i, p in rows}
    # Files nobody points to (a process died while recording), older than the retention.
    cutoff_ts = cutoff.timestamp()
    referenced: set[Path] | None = None
    if root.is_dir():
        for path in root.rglob("*.wav"):
            try:
                if path.stat().st_mtime >= cutoff_ts or path in paths:
                    continue
            except OSError:
                continue
            if referenced is None:
                with Session(engine) as session:
                    referenced = {Path(p) for p in session.exec(select(
                        CallAttempt.recording_path).where(
                            col(CallAttempt.recording_path).is_not(None))).all() if p}
            if path not in referenced:
                paths.add(path)
    files = size = 0
    for path in sorted(paths):
        try:
            length = path.stat().st_size
            if not dry_run:
                path.unlink()
        except OSError:
            continue
        files += 1
        size += length
    if not dry_run and root.is_dir():
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only empty day / month / year folders go
    return PurgeResult(files, size, len(rows), cutoff)
