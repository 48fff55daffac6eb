"""Several processes claim at once from one campaign whose head is full of contacts
excluded for one of them (by name, postal code, number, and a due callback): the excluded
operator never gets one, the others get them all, and no contact is claimed twice.
The claiming processes are the 8-process test's own (``test_queue_concurrency``)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from queue_world import World
from sqlalchemy.engine import Engine
from sqlmodel import select
from test_queue_concurrency import NOW, _claimer

from cellcall.db import read_session, run_write
from cellcall.models import CallAttempt
from cellcall.services import exclusions
from cellcall.services.actors import shell_admin

PROCESSES = 6
PLAIN = 60


@pytest.mark.slow
def test_an_excluded_contact_never_reaches_its_operator(engine: Engine, db_path: Path) -> None:
    world = World(engine)
    campaign = world.campaign("c", type="survey")
    # The queue's head: what the excluded operator would get first without the exclusions.
    excluded = {
        world.contact(campaign, first_name="Jean-Pierre", last_name="Dupont"),
        world.contact(campaign, first_name="DUPONT", last_name="jean pierre"),
        world.contact(campaign, first_name="Hélène", last_name="Durand"),
        world.contact(campaign, postal_code="75011"),
        world.contact(campaign, postal_code="75 018"),
        world.contact(campaign, "+33611111111"),
        world.contact(campaign, "+33622222222", status="pending", attempts=1,
                      next_attempt_at=NOW - timedelta(hours=1)),
    }
    called_back = world.contact(campaign, "+33633333333", status="pending", attempts=1,
                                next_attempt_at=NOW - timedelta(minutes=5))
    world.callback(called_back, NOW - timedelta(minutes=5))
    excluded.add(called_back)
    # As many again spread through the queue: without the exclusions, op0 would get
    # some of them whatever the order the processes run in.
    plain: set[int] = set()
    for n in range(PLAIN):
        plain.add(world.contact(campaign, postal_code="69003"))
        if n % 2:
            excluded.add(world.contact(campaign, postal_code=f"750{n:02d}"))
    operators = [world.operator(f"op{i}") for i in range(PROCESSES)]
    target = operators[0].login
    for kind, value in [("person", "jean-pierre dupont"), ("person", "HELENE DURAND"),
                        ("postal_code", "750"), ("number", "06 11 11 11 11"),
                        ("number", "+33 6 22 22 22 22"), ("number", "0633333333")]:
        run_write(engine, lambda s, k=kind, v=value: exclusions.add_exclusion(  # type: ignore[misc]
            session=s, actor=shell_admin(), operator_login=target, kind=k, value=v))
    engine.dispose()

    ctx = multiprocessing.get_context("spawn")
    start, ready = ctx.Event(), ctx.Semaphore(0)
    results: multiprocessing.Queue[tuple[str, list[int], str]] = ctx.Queue()
    # Both ways of claiming race each other, the excluded operator's included.
    procs = [ctx.Process(target=_claimer, args=(f"sqlite:///{db_path}", op.login,
                                                op.user_id, i % 2 == 0, start, results,
                                                ready))
             for i, op in enumerate(operators)]
    for proc in procs:
        proc.start()
    for _ in procs:  # all started together, so that the excluded operator is in the race
        assert ready.acquire(timeout=120)
    start.set()
    collected = {login: got for login, got, _reason in
                 (results.get(timeout=240) for _ in procs)}
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    claims = Counter(cid for got in collected.values() for cid in got)
    assert [cid for cid, n in claims.items() if n > 1] == []         # never twice
    assert set(claims) == excluded | plain                           # none lost
    assert not excluded & set(collected[target])                     # never to op0
    assert collected[target]                                         # op0 worked too
    with read_session(engine) as s:
        attempts = s.exec(select(CallAttempt.contact_id, CallAttempt.operator_id)).all()
    assert not [cid for cid, operator in attempts
                if cid in excluded and operator == operators[0].user_id]
