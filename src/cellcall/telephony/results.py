"""How a finished customer call becomes an attempt result, without the operator."""

from __future__ import annotations

from dataclasses import dataclass

from cellcall.telephony import events as ev

BUSY_STATUSES = frozenset({486, 600, 603})
NO_ANSWER_STATUSES = frozenset({408, 480})
WRONG_NUMBER_STATUSES = frozenset({404, 410, 484, 604})
# Local reasons that never count against the callee's frequency caps: the callee was
# never really reached, through no fault of theirs.
_NOT_COUNTED = frozenset({ev.TECHNICAL_FAILURE})


@dataclass(frozen=True)
class EndResult:
    result: str
    counts_against_caps: bool


def classify_end(*, answered: bool, sip_status: int | None, local_reason: str | None,
                 peer_responded: bool) -> EndResult:
    """The result of a customer call.

    ``local_reason`` is set when the engine ended the call itself (operator hang-up, ring
    timeout, time limit, shutdown, unreachable PBX); ``peer_responded`` tells a 408 the
    callee's side sent from a transaction timeout of our own (nobody answered at all).
    """
    if local_reason is not None:
        if local_reason == ev.SITE_STOP:
            return EndResult(ev.SITE_STOP, answered)
        return EndResult(local_reason, local_reason not in _NOT_COUNTED)
    if answered:
        return EndResult(ev.ANSWERED_THEN_HUNG_UP, True)
    status = sip_status or 0
    if status in BUSY_STATUSES:
        return EndResult(ev.BUSY, True)
    if status in NO_ANSWER_STATUSES and peer_responded:
        return EndResult(ev.NO_ANSWER, True)
    if status in WRONG_NUMBER_STATUSES:
        return EndResult(ev.WRONG_NUMBER, True)
    # 5xx, other 4xx (the PBX refused us), transport errors, unreachable PBX.
    return EndResult(ev.TECHNICAL_FAILURE, False)
