"""The engine's outbox: rows first, then events, in order; one bad write spoils nothing."""

from __future__ import annotations

import functools
import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.telephony import events as ev
from cellcall.telephony import records
from cellcall.telephony.engine import _Outbox
from telephony.support import Site, audit_rows, make_site


def _broken(session: Session) -> None:
    raise ValueError("disk on fire")


def test_rows_then_events_in_order_and_failures_isolated(engine: Engine) -> None:
    site: Site = make_site(engine)
    delivered: list[object] = []
    gate = threading.Event()
    outbox = _Outbox(engine, delivered.append)
    outbox.start()
    # Hold the outbox thread on a first write so the next ones pile up into one batch.
    outbox.post(None, lambda session: gate.wait(10))
    for index in range(3):
        outbox.post(ev.CallProgress(index, "ringing"), functools.partial(
            records.record_event, actor_label="t", action=f"step{index}", target="x",
            details={}))
        if index == 1:
            outbox.post(ev.CallProgress(99, "ringing"), _broken, failure="could not save")
    gate.set()
    outbox.close()
    assert delivered == [
        ev.CallProgress(0, "ringing"), ev.CallProgress(1, "ringing"),
        ev.EngineError("could not save"), ev.CallProgress(99, "ringing"),
        ev.CallProgress(2, "ringing")]
    assert [r.action for r in audit_rows(site)] == ["step0", "step1", "step2"]
    # Once closed, posts are handled at once, in the caller's thread.
    outbox.post(ev.EngineError("late"))
    assert delivered[-1] == ev.EngineError("late")
