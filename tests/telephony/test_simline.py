"""The engine against the simulated line: real SIP and real audio, checked by content."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cellcall.models.calls import AttemptState
from cellcall.telephony import events as ev
from cellcall.telephony.simline import SimulatedLine, dialled_number
from telephony.conftest import PhoneHandle
from telephony.support import Site, attempt_row, audit_rows, claim
from telephony.tones import shares

MakePhone = Callable[..., PhoneHandle]


def test_both_parties_are_recorded_and_the_callee_hears_the_agent(
        site: Site, make_phone: MakePhone, simline: SimulatedLine, tmp_path: Path) -> None:
    handle = make_phone(trunk_pattern=simline.trunk_pattern)
    number = "+33612300001"
    attempt_id = claim(site, number, "answer")
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="ringing")
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    time.sleep(2.0)  # two seconds of conversation
    handle.phone.hangup()
    assert handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id).result == \
        ev.OPERATOR_HANGUP

    row = attempt_row(site, attempt_id)
    assert row.recording_path is not None and row.recording_seconds is not None
    assert row.recording_seconds > 1.5
    mixed = shares(Path(row.recording_path), (440.0, 1000.0, 1700.0))
    # Both parties: the agent's 440 Hz and the callee's 1 kHz; not a tone nobody played.
    assert mixed[440.0] > 0.1 and mixed[1000.0] > 0.1, mixed
    assert mixed[1700.0] < 0.01, mixed

    heard = sorted((tmp_path / "callee").glob("33612300001-*.wav"))
    assert len(heard) == 1
    callee = shares(heard[0], (440.0, 1000.0))
    assert callee[440.0] > 0.1, callee
    assert callee[1000.0] < 0.01, callee  # the callee hears the agent, not itself


def test_muted_operator_is_not_heard_by_the_callee(
        site: Site, make_phone: MakePhone, simline: SimulatedLine, tmp_path: Path) -> None:
    handle = make_phone(trunk_pattern=simline.trunk_pattern)
    attempt_id = claim(site, "+33612300002", "answer")
    handle.phone.set_mute(True)  # no call yet: ignored
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    handle.phone.set_mute(True)
    time.sleep(1.5)
    handle.phone.hangup()
    handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    heard = sorted((tmp_path / "callee").glob("33612300002-*.wav"))
    assert len(heard) == 1
    # Muted from the first frames but a few: almost nothing of the 440 Hz reached them.
    assert shares(heard[0], (440.0,), skip_s=0.6)[440.0] < 0.05


@pytest.mark.parametrize(("behaviour", "result", "status"), [
    ("busy", ev.BUSY, 486),
    ("no_answer", ev.NO_ANSWER, 487),
    ("wrong_number", ev.WRONG_NUMBER, 404),
    ("failure", ev.TECHNICAL_FAILURE, 503),
])
def test_demo_behaviours(site: Site, make_phone: MakePhone, simline: SimulatedLine,
                         behaviour: str, result: str, status: int) -> None:
    handle = make_phone(trunk_pattern=simline.trunk_pattern, ring_timeout_s=1.5)
    attempt_id = claim(site, None, behaviour)
    handle.phone.dial(attempt_id)
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert (ended.result, ended.sip_status) == (result, status)
    row = attempt_row(site, attempt_id)
    assert (row.state, row.result) == (AttemptState.ENDED, result)


def test_callee_hangs_up_after_answering(site: Site, make_phone: MakePhone,
                                         simline: SimulatedLine) -> None:
    handle = make_phone(trunk_pattern=simline.trunk_pattern)
    attempt_id = claim(site, None, "hangup")
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert ended.result == ev.ANSWERED_THEN_HUNG_UP
    row = attempt_row(site, attempt_id)
    assert row.result == ev.ANSWERED_THEN_HUNG_UP
    assert row.recording_seconds is not None and row.recording_seconds > 1.0


def test_dialled_number_from_the_request_uri() -> None:
    assert dialled_number("sip:+33612345678@127.0.0.1:5060") == "+33612345678"
    assert dialled_number("<sip:%2B33612345678@pbx;user=phone>") == "+33612345678"
    assert dialled_number("tel:+336") == ""


def test_held_customer_hears_nothing_of_the_operator(
        site: Site, make_phone: MakePhone, simline: SimulatedLine, tmp_path: Path) -> None:
    handle = make_phone(trunk_pattern=simline.trunk_pattern)
    attempt_id = claim(site, "+33612300004", "answer")
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    handle.phone.set_hold(True)
    time.sleep(1.5)
    handle.phone.hangup()
    assert handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id).result == \
        ev.OPERATOR_HANGUP
    heard = sorted((tmp_path / "callee").glob("33612300004-*.wav"))
    assert len(heard) == 1
    assert shares(heard[0], (440.0,), skip_s=0.6)[440.0] < 0.05


def test_dtmf_digits_reach_the_callee(site: Site, make_phone: MakePhone,
                                      simline: SimulatedLine, tmp_path: Path) -> None:
    handle = make_phone(trunk_pattern=simline.trunk_pattern)
    attempt_id = claim(site, "+33612300005", "answer")
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    handle.phone.send_dtmf("3#")
    log_file = tmp_path / "simline.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "DTMF #" not in log_file.read_text():
        time.sleep(0.1)
    handle.phone.hangup()
    handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    text = log_file.read_text()
    assert "DTMF 3 from the caller of +33612300005" in text
    assert "DTMF # from the caller of +33612300005" in text


def test_no_more_digits_than_the_call_allows_reach_the_callee(
        site: Site, make_phone: MakePhone, simline: SimulatedLine, tmp_path: Path) -> None:
    """Keyed digits stop at ``max_dtmf_digits_per_call``: a switchboard's menu, never an
    outside number dialled through it. The refusal is told and audited."""
    handle = make_phone(trunk_pattern=simline.trunk_pattern, max_dtmf_digits_per_call=3)
    attempt_id = claim(site, "+33612300006", "answer")
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    handle.phone.send_dtmf("1")
    handle.phone.send_dtmf("2#")
    handle.phone.send_dtmf("9")
    assert "only 3 digits" in handle.events.wait_for(ev.EngineError).message
    log_file = tmp_path / "simline.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "DTMF #" not in log_file.read_text():
        time.sleep(0.1)
    time.sleep(0.5)  # room for a digit that should not come
    handle.phone.hangup()
    handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    heard = re.findall(r"DTMF (\S+) from the caller of \+33612300006", log_file.read_text())
    assert heard == ["1", "2", "#"]
    assert [json.loads(r.details)["digits"] for r in audit_rows(site, "dtmf")] == ["1", "2#"]
    [refused] = audit_rows(site, "dtmf.refused")
    assert json.loads(refused.details) == {"digits": "9", "sent_before": 3, "allowed": 3}
    assert refused.target == f"attempt:{attempt_id}"
