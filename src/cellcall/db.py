"""One engine per process, a session per unit of work.

SQLite is used in WAL mode with foreign keys on and a busy timeout. pysqlite's own
transaction handling is switched off so that we emit ``BEGIN`` ourselves: write units of
work start with ``BEGIN IMMEDIATE``, which takes the write lock up front and waits on the
busy timeout instead of failing half-way with "database is locked" when a read upgrades.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from cellcall.errors import CellcallError
from cellcall.i18n import _

T = TypeVar("T")

_IMMEDIATE = "cellcall_immediate"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, busy_timeout_ms: int = 15000) -> Engine:
    """Create the process's engine; for SQLite, make the file's folder and set pragmas."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            poolclass=NullPool if path == ":memory:" else None,
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module doc)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        # Reads from a memory map instead of read() calls: a quarter off a queue claim.
        cur.execute("PRAGMA mmap_size = 268435456")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_IMMEDIATE, False):
            _begin_immediate(conn, busy_timeout_ms)
        else:
            conn.exec_driver_sql("BEGIN")


# Sleeps between two tries of BEGIN IMMEDIATE while another connection writes: (waited
# up to, shortest, longest sleep) in seconds. A waiter tries more often the longer it has
# waited, so the lock tends to go to the oldest waiter; a newcomer's tries stay few (each
# try and wake-up costs CPU that the lock holder may need).
_SPIN_SLEEPS = ((0.010, 0.002, 0.004), (0.050, 0.001, 0.002), (float("inf"), 0.0005, 0.001))


def _begin_immediate(conn: Connection, busy_timeout_ms: int) -> None:
    """``BEGIN IMMEDIATE``, waiting for the write lock up to the busy timeout.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … then 100 ms between tries: the writer
    that has waited longest polls least often and newcomers overtake it, so with many
    writers a few wait seconds. Here a waiter tries again after a short jittered sleep
    that shrinks the longer it has waited (the other way round), up to the same timeout."""
    raw: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
    began = time.monotonic()
    deadline = began + busy_timeout_ms / 1000
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_lock_error(exc):
                    raise
            at = time.monotonic()
            if at >= deadline:
                break
            waited = at - began
            shortest, longest = next((lo, hi) for upto, lo, hi in _SPIN_SLEEPS if waited < upto)
            time.sleep(random.uniform(shortest, longest))
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # a last try that fails as SQLAlchemy's error
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")


def read_session(engine: Engine) -> Session:
    """A session for reading (a deferred transaction: a consistent WAL snapshot)."""
    return Session(engine, expire_on_commit=False)


def write_session(engine: Engine) -> Session:
    """A session whose transaction takes the write lock at once (``BEGIN IMMEDIATE``)."""
    return Session(engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One short write transaction: commit on success, roll back on any error."""
    with write_session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def run_write(engine: Engine, work: Callable[[Session], T], *, attempts: int = 5) -> T:
    """Run ``work`` in one write transaction, retrying when another writer held the lock
    longer than the busy timeout, so that "database is locked" never reaches a user."""
    def once() -> T:
        with unit_of_work(engine) as session:
            return work(session)
    return _retrying(once, attempts)


def run_core_write(engine: Engine, work: Callable[[Connection], T], *,
                   attempts: int = 5) -> T:
    """``run_write`` on a Core connection, without an ORM session: for hot paths whose
    transaction holds the write lock (the queue's claim). Commits on success."""
    def once() -> T:
        with engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                return work(conn)
    return _retrying(once, attempts)


def _retrying(once: Callable[[], T], attempts: int) -> T:
    delay = 0.05
    for attempt in range(attempts):
        try:
            return once()
        except OperationalError as exc:
            if not _is_lock_error(exc) or attempt == attempts - 1:
                if _is_lock_error(exc):
                    raise CellcallError(
                        _("The database is busy; please try again in a moment.")) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")
