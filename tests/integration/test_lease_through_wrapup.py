"""A long wrap-up keeps the contact: the lease renews until the outcome is recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from queue_world import PARIS, World, local
from sqlalchemy.engine import Engine

from cellcall.db import run_write
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.services import outcomes, queue

WED_11 = local(PARIS, 2026, 3, 4, 11, 0)


def test_lease_renews_after_the_call_until_the_outcome(engine: Engine) -> None:
    world = World(engine, optimistic=True)
    world.contact(world.campaign("c"))
    ana, bob = world.operator("ana"), world.operator("bob")
    got = world.claimed(ana, WED_11)

    def end_call(session):  # type: ignore[no-untyped-def]
        attempt = session.get(CallAttempt, got.attempt_id)
        attempt.state = AttemptState.ENDED
        attempt.result = "answered_then_hung_up"
        attempt.ended_at = WED_11 + timedelta(minutes=1)
        session.add(attempt)

    run_write(engine, end_call)
    during = WED_11 + timedelta(minutes=4)
    renewed = run_write(engine, lambda s: queue.renew_lease(
        session=s, actor=ana, attempt_id=got.attempt_id, now=during, lease_seconds=300))
    assert renewed == during + timedelta(minutes=5)
    # A wrap-up longer than the first lease: nobody else gets the contact.
    assert isinstance(world.claim(bob, WED_11 + timedelta(minutes=8)), queue.NothingCallable)
    run_write(engine, lambda s: outcomes.record_outcome(
        session=s, actor=ana, attempt_id=got.attempt_id,
        data=outcomes.OutcomeInput(disposition="not_interested"), script=None,
        now=WED_11 + timedelta(minutes=8)))
    with pytest.raises(queue.LeaseLostError):
        run_write(engine, lambda s: queue.renew_lease(
            session=s, actor=ana, attempt_id=got.attempt_id,
            now=WED_11 + timedelta(minutes=8)))
