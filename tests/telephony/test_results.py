"""SIP results become attempt results without the operator."""

from __future__ import annotations

import pytest

from cellcall.telephony import events as ev
from cellcall.telephony.results import classify_end


@pytest.mark.parametrize(("status", "responded", "result", "counts"), [
    (486, True, ev.BUSY, True),
    (600, True, ev.BUSY, True),
    (603, True, ev.BUSY, True),
    (408, True, ev.NO_ANSWER, True),
    (480, True, ev.NO_ANSWER, True),
    (404, True, ev.WRONG_NUMBER, True),
    (484, True, ev.WRONG_NUMBER, True),
    (604, True, ev.WRONG_NUMBER, True),
    (500, True, ev.TECHNICAL_FAILURE, False),
    (503, True, ev.TECHNICAL_FAILURE, False),
    (403, True, ev.TECHNICAL_FAILURE, False),
    (408, False, ev.TECHNICAL_FAILURE, False),  # our own timeout: nobody answered at all
    (None, False, ev.TECHNICAL_FAILURE, False),
])
def test_unanswered_calls(status: int | None, responded: bool, result: str,
                          counts: bool) -> None:
    end = classify_end(answered=False, sip_status=status, local_reason=None,
                       peer_responded=responded)
    assert (end.result, end.counts_against_caps) == (result, counts)


def test_answered_then_remote_hang_up() -> None:
    end = classify_end(answered=True, sip_status=200, local_reason=None, peer_responded=True)
    assert (end.result, end.counts_against_caps) == (ev.ANSWERED_THEN_HUNG_UP, True)


@pytest.mark.parametrize(("reason", "answered", "counts"), [
    (ev.OPERATOR_HANGUP, True, True),
    (ev.NO_ANSWER, False, True),
    (ev.TIME_LIMIT, True, True),
    (ev.TECHNICAL_FAILURE, False, False),
    (ev.SITE_STOP, False, False),
    (ev.SITE_STOP, True, True),
])
def test_the_engine_ended_it(reason: str, answered: bool, counts: bool) -> None:
    end = classify_end(answered=answered, sip_status=487, local_reason=reason,
                       peer_responded=True)
    assert (end.result, end.counts_against_caps) == (reason, counts)
