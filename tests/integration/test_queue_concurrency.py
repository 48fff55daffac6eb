"""Eight processes, each with its own engine on the same SQLite file, claim from one
campaign until it is empty: no contact is claimed twice and none is lost. Half of them
use ``queue.claim`` (read snapshot, then a short write), half ``queue.claim_next`` in one
write transaction, so both paths race each other."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from multiprocessing.synchronize import Event, Semaphore
from pathlib import Path
from typing import Any

import pytest
from queue_world import PARIS, World, local, open_rules
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from cellcall.db import make_engine, read_session, run_write
from cellcall.models import CallAttempt, Contact, Role
from cellcall.services import queue
from cellcall.services.actors import Actor

PROCESSES = 8
CONTACTS = 240
NOW = local(PARIS, 2026, 3, 4, 11, 0)


def _complete(session: Any, claimed: queue.ClaimedContact) -> None:
    """What the outcome service does, reduced to the minimum: the contact is done."""
    session.execute(update(Contact).where(col(Contact.id) == claimed.contact_id).values(
        status="done", attempts=Contact.attempts + 1, lease_user_id=None,
        lease_station_id=None, lease_expires_at=None))
    session.execute(update(CallAttempt).where(col(CallAttempt.id) == claimed.attempt_id)
                    .values(state="ended", result="answered"))


def _claimer(db_url: str, login: str, user_id: int, optimistic: bool, start: Event,
             results: multiprocessing.Queue[tuple[str, list[int], str]],
             ready: Semaphore | None = None) -> None:
    engine = make_engine(db_url)
    actor = Actor(login=login, role=Role.OPERATOR, user_id=user_id)
    rules = open_rules()
    got: list[int] = []
    last_reason = ""
    if ready is not None:  # imported and connected: the parent may start everyone at once
        ready.release()
    start.wait(60)
    for _ in range(CONTACTS * 4):
        if optimistic:
            result = queue.claim(engine=engine, actor=actor, station_id=None, now=NOW,
                                 rules=rules)
        else:
            result = run_write(engine, lambda s: queue.claim_next(
                session=s, actor=actor, station_id=None, now=NOW, rules=rules))
        if isinstance(result, queue.NothingCallable):
            last_reason = result.reason
            if "finished" in result.reason:
                break
            continue  # the last contacts are still with colleagues
        got.append(result.contact_id)
        run_write(engine, lambda s, claimed=result: _complete(s, claimed))  # type: ignore[misc]
    engine.dispose()
    results.put((login, got, last_reason))


@pytest.mark.slow
def test_eight_processes_claim_every_contact_exactly_once(engine: Engine,
                                                          db_path: Path) -> None:
    world = World(engine)
    campaign = world.campaign("c", type="survey")
    contact_ids = {world.contact(campaign) for _ in range(CONTACTS)}
    operators = [world.operator(f"op{i}") for i in range(PROCESSES)]
    engine.dispose()

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results: multiprocessing.Queue[tuple[str, list[int], str]] = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(f"sqlite:///{db_path}", op.login,
                                                op.user_id, i % 2 == 0, start, results))
             for i, op in enumerate(operators)]
    for proc in procs:
        proc.start()
    start.set()
    collected = [results.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    claims = Counter(cid for _login, got, _reason in collected for cid in got)
    assert [cid for cid, n in claims.items() if n > 1] == []          # never twice
    assert set(claims) == contact_ids                                 # none lost
    assert all("finished" in reason for _login, _got, reason in collected)
    # With 8 processes at once, the work was really shared.
    assert sum(1 for _login, got, _reason in collected if got) >= min(4, os.cpu_count() or 1)
    with read_session(engine) as s:
        attempts = s.exec(select(CallAttempt.contact_id)).all()
        statuses = set(s.exec(select(Contact.status)).all())
    assert sorted(attempts) == sorted(contact_ids)
    assert statuses == {"done"}
