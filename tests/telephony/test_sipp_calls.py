"""The real engine against sipp on 127.0.0.1: each SIP result becomes the right attempt row."""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session

from cellcall.models.base import utcnow
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.campaigns import Campaign
from cellcall.models.contacts import Contact
from cellcall.models.users import Station
from cellcall.services.actors import Actor
from cellcall.telephony import events as ev
from telephony.conftest import PhoneHandle, Sipp
from telephony.support import Site, attempt_row, audit_rows, claim, free_port
from telephony.tones import shares

MakePhone = Callable[..., PhoneHandle]
MakeSipp = Callable[[str], Sipp]


def _details(row: object) -> dict[str, object]:
    return json.loads(row.details)  # type: ignore[attr-defined, no-any-return]


def test_answered_call_is_bridged_recorded_and_audited(
        site: Site, make_phone: MakePhone, sipp: MakeSipp) -> None:
    uas = sipp("answer").start("uas_answer.xml", rtp_echo=True)
    handle = make_phone(trunk_pattern=uas.uri_pattern)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="dialing")
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="ringing")
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    assert attempt_row(site, attempt_id).state == AttemptState.CONNECTED
    time.sleep(1.5)  # let audio flow into the recording
    handle.phone.hangup()
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert ended.result == ev.OPERATOR_HANGUP
    assert uas.wait() == 0, uas.errors.read_text() if uas.errors.exists() else ""

    row = attempt_row(site, attempt_id)
    assert row.state == AttemptState.ENDED
    assert row.result == ev.OPERATOR_HANGUP
    assert row.dialed_at is not None and row.answered_at is not None
    assert row.ended_at is not None and row.counts_against_caps
    assert row.recording_path is not None
    path = Path(row.recording_path)
    assert path.name == f"attempt-{attempt_id}.wav"
    assert path.is_relative_to(Path(handle.config.recordings_dir))
    assert row.recording_seconds is not None and row.recording_seconds > 0.5
    # sipp echoes the RTP it gets: the agent's 440 Hz tone is in the recording.
    assert shares(path, (440.0,))[440.0] > 0.2
    # The INVITE went to the number the attempt holds, with our offer in it.
    trace = uas.trace()
    assert f"INVITE sip:{row.phone_e164}@127.0.0.1:{uas.port}" in trace
    actions = [r.action for r in audit_rows(site)]
    assert actions[-3:] == ["dial", "hangup", "call.end"]
    dial = audit_rows(site, "dial")[-1]
    assert _details(dial)["to"] == row.phone_e164
    assert dial.actor == "op1"


def test_answered_call_over_tcp(site: Site, make_phone: MakePhone, sipp: MakeSipp) -> None:
    uas = sipp("tcp").start("uas_answer.xml", "-t", "t1")
    handle = make_phone(trunk_pattern=uas.uri_pattern, transport="tcp")
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    handle.phone.hangup()
    assert handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id).result == \
        ev.OPERATOR_HANGUP
    assert uas.wait() == 0
    trace = uas.trace()
    assert "TCP message received" in trace and ";transport=tcp SIP/2.0" in trace


@pytest.mark.parametrize(("status", "reason", "result", "counts"), [
    (486, "Busy Here", ev.BUSY, True),
    (600, "Busy Everywhere", ev.BUSY, True),
    (480, "Temporarily Unavailable", ev.NO_ANSWER, True),
    (404, "Not Found", ev.WRONG_NUMBER, True),
    (484, "Address Incomplete", ev.WRONG_NUMBER, True),
    (503, "Service Unavailable", ev.TECHNICAL_FAILURE, False),
])
def test_refusals_of_the_far_end_become_results(
        site: Site, make_phone: MakePhone, sipp: MakeSipp, status: int, reason: str,
        result: str, counts: bool) -> None:
    uas = sipp("reject").start("uas_reject.xml",
                               fill={"STATUS": str(status), "REASON": reason})
    handle = make_phone(trunk_pattern=uas.uri_pattern)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert (ended.result, ended.sip_status) == (result, status)
    row = attempt_row(site, attempt_id)
    assert (row.state, row.result, row.sip_status) == (AttemptState.ENDED, result, status)
    assert row.counts_against_caps is counts
    assert row.answered_at is None and row.recording_path is None
    assert uas.wait() == 0


def test_no_answer_until_the_ring_timeout(site: Site, make_phone: MakePhone,
                                          sipp: MakeSipp) -> None:
    uas = sipp("noanswer").start("uas_no_answer.xml")
    handle = make_phone(trunk_pattern=uas.uri_pattern, ring_timeout_s=2.0)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="ringing")
    assert attempt_row(site, attempt_id).state == AttemptState.RINGING
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert ended.result == ev.NO_ANSWER
    row = attempt_row(site, attempt_id)
    assert row.result == ev.NO_ANSWER and row.counts_against_caps
    assert uas.wait() == 0  # sipp saw the CANCEL
    assert "CANCEL sip:" in uas.trace()


def test_remote_hang_up_mid_call(site: Site, make_phone: MakePhone, sipp: MakeSipp) -> None:
    uas = sipp("bye").start("uas_remote_bye.xml", "-d", "1500", rtp_echo=True)
    handle = make_phone(trunk_pattern=uas.uri_pattern)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert ended.result == ev.ANSWERED_THEN_HUNG_UP
    row = attempt_row(site, attempt_id)
    assert row.result == ev.ANSWERED_THEN_HUNG_UP and row.counts_against_caps
    assert row.recording_path and Path(row.recording_path).exists()
    assert row.recording_seconds is not None and row.recording_seconds > 0.5
    assert uas.wait() == 0


def test_nothing_listening_is_a_technical_failure(site: Site, make_phone: MakePhone) -> None:
    port = free_port()
    handle = make_phone(trunk_pattern=f"sip:{{e164}}@127.0.0.1:{port}",
                        no_response_timeout_s=1.0)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert ended.result == ev.TECHNICAL_FAILURE
    row = attempt_row(site, attempt_id)
    assert row.result == ev.TECHNICAL_FAILURE
    assert row.counts_against_caps is False
    assert row.ended_at is not None and row.state == AttemptState.ENDED


def test_refer_is_refused_and_nobody_else_is_called(
        site: Site, make_phone: MakePhone, sipp: MakeSipp) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.setblocking(False)
        target = f"+33999999999@127.0.0.1:{listener.getsockname()[1]}"
        uas = sipp("refer").start("uas_refer.xml", "-key", "target", target)
        handle = make_phone(trunk_pattern=uas.uri_pattern)
        attempt_id = claim(site)
        handle.phone.dial(attempt_id)
        handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
        ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
        assert ended.result == ev.ANSWERED_THEN_HUNG_UP
        assert uas.wait() == 0  # it got its 603 to the REFER
        assert "SIP/2.0 603" in uas.trace()
        with pytest.raises(BlockingIOError):
            listener.recv(4096)  # no INVITE reached the transfer target
    refused = audit_rows(site, "call.transfer.refused")
    assert len(refused) == 1 and "+33999999999" in str(_details(refused[0])["to"])
    assert len(audit_rows(site, "dial")) == 1


def test_incoming_unsigned_call_gets_403(site: Site, make_phone: MakePhone,
                                         sipp: MakeSipp) -> None:
    handle = make_phone(trunk_pattern="sip:{e164}@127.0.0.1:9")
    assert handle.phone.local_address is not None
    host, port = handle.phone.local_address
    uac = sipp("intruder").start("uac_invite.xml", remote=f"{host}:{port}")
    assert uac.wait() == 0
    assert "SIP/2.0 403" in uac.trace()
    handle.phone.stop()  # the audit rows are all written when stop returns
    refused = audit_rows(site, "call.incoming.refused")
    assert len(refused) == 1 and "intruder" in str(_details(refused[0])["from"])


def test_second_call_refused_while_one_is_up(site: Site, make_phone: MakePhone,
                                             sipp: MakeSipp) -> None:
    uas = sipp("answer").start("uas_answer.xml")
    handle = make_phone(trunk_pattern=uas.uri_pattern)
    first, second = claim(site), claim(site)
    handle.phone.dial(first)
    handle.events.wait_for(ev.CallProgress, attempt_id=first, state="connected")
    handle.phone.dial(second)
    error = handle.events.wait_for(ev.EngineError)
    assert "already" in error.message
    assert attempt_row(site, second).state == AttemptState.CLAIMED
    refused = audit_rows(site, "dial.refused")
    assert [_details(r)["reason"] for r in refused] == ["call_up"]
    handle.phone.hangup()
    handle.events.wait_for(ev.CallEnded, attempt_id=first)
    assert uas.wait() == 0


def test_dtmf_only_in_a_connected_call_and_audited(site: Site, make_phone: MakePhone,
                                                    sipp: MakeSipp) -> None:
    uas = sipp("answer").start("uas_answer.xml", rtp_echo=True)
    handle = make_phone(trunk_pattern=uas.uri_pattern)
    handle.phone.send_dtmf("1")
    assert "connected call" in handle.events.wait_for(ev.EngineError).message
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    handle.phone.send_dtmf("x1")
    assert "0-9" in handle.events.wait_for(ev.EngineError).message
    handle.phone.send_dtmf("12#")
    handle.phone.hangup()
    handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    dtmf = audit_rows(site, "dtmf")
    assert [(_details(r)["digits"], r.target) for r in dtmf] == [
        ("12#", f"attempt:{attempt_id}")]
    assert uas.wait() == 0


def test_time_limit_warns_then_hangs_up(site: Site, make_phone: MakePhone,
                                        sipp: MakeSipp) -> None:
    uas = sipp("answer").start("uas_answer.xml")
    handle = make_phone(trunk_pattern=uas.uri_pattern, call_time_limit_s=2,
                        call_time_warning_s=1)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    warning = handle.events.wait_for(ev.CallTimeWarning, attempt_id=attempt_id)
    assert warning.seconds_left == 1
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id)
    assert ended.result == ev.TIME_LIMIT
    assert attempt_row(site, attempt_id).result == ev.TIME_LIMIT
    assert uas.wait() == 0


def test_clean_shutdown_during_a_call(site: Site, make_phone: MakePhone,
                                      sipp: MakeSipp) -> None:
    uas = sipp("answer").start("uas_answer.xml", rtp_echo=True)
    handle = make_phone(trunk_pattern=uas.uri_pattern)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    handle.events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
    time.sleep(0.5)
    handle.phone.stop()
    assert not handle.phone.running
    ended = handle.events.wait_for(ev.CallEnded, attempt_id=attempt_id, timeout=1)
    assert ended.result == ev.SITE_STOP
    row = attempt_row(site, attempt_id)
    assert (row.state, row.result) == (AttemptState.ENDED, ev.SITE_STOP)
    assert row.recording_path and Path(row.recording_path).exists()
    assert uas.wait() == 0  # the callee got its BYE
    handle.phone.stop()  # twice is harmless


# --- dials that must never leave -----------------------------------------------------------
def _set(site: Site, attempt_id: int, **values: object) -> None:
    with Session(site.engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
        assert attempt is not None
        for key, value in values.items():
            if hasattr(attempt, key):
                setattr(attempt, key, value)
        contact = s.get(Contact, attempt.contact_id)
        assert contact is not None
        if "lease_expires_at" in values:
            contact.lease_expires_at = values["lease_expires_at"]  # type: ignore[assignment]
        if "campaign_status" in values:
            campaign = s.get(Campaign, attempt.campaign_id)
            assert campaign is not None
            campaign.status = str(values["campaign_status"])
        s.commit()


@pytest.mark.parametrize(("case", "reason"), [
    ("unknown", "not_found"),
    ("other_station", "other_station"),
    ("other_operator", "other_operator"),
    ("already_dialled", "not_claimed"),
    ("ended", "not_claimed"),
    ("lease_expired", "lease"),
    ("campaign_paused", "campaign"),
])
def test_dial_refuses_anything_but_a_claimed_attempt(
        site: Site, make_phone: MakePhone, case: str, reason: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk:
        trunk.bind(("127.0.0.1", 0))
        trunk.setblocking(False)
        operator = Actor(login="op1", role="operator",  # type: ignore[arg-type]
                         user_id=site.operator_id, station_id=site.station_id)
        handle = make_phone(trunk_pattern=f"sip:{{e164}}@127.0.0.1:{trunk.getsockname()[1]}",
                            operator=operator)
        attempt_id = 999_999
        if case == "other_station":
            attempt_id = claim(site, station_id=site.other_station_id)
        elif case == "other_operator":
            attempt_id = claim(site, operator_id=site.other_operator_id)
        elif case == "already_dialled":
            attempt_id = claim(site, state=AttemptState.DIALING)
        elif case == "ended":
            attempt_id = claim(site, state=AttemptState.ENDED)
        elif case == "lease_expired":
            attempt_id = claim(site)
            _set(site, attempt_id, lease_expires_at=utcnow())
        elif case == "campaign_paused":
            attempt_id = claim(site)
            _set(site, attempt_id, campaign_status="paused")
        before = attempt_row(site, attempt_id) if case != "unknown" else None
        handle.phone.dial(attempt_id)
        error = handle.events.wait_for(ev.EngineError)
        assert error.message
        refused = audit_rows(site, "dial.refused")
        assert [(_details(r)["reason"], r.target) for r in refused] == [
            (reason, f"attempt:{attempt_id}")]
        assert audit_rows(site, "dial") == []
        if before is not None:
            after = attempt_row(site, attempt_id)
            assert (after.state, after.dialed_at) == (before.state, before.dialed_at)
        handle.phone.stop()
        with pytest.raises(BlockingIOError):
            trunk.recv(4096)  # no INVITE left


def test_dial_refused_when_the_recordings_disk_is_full(site: Site,
                                                        make_phone: MakePhone) -> None:
    handle = make_phone(trunk_pattern="sip:{e164}@127.0.0.1:9", min_free_disk_mb=10**12)
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    assert "disk" in handle.events.wait_for(ev.EngineError).message
    assert attempt_row(site, attempt_id).state == AttemptState.CLAIMED
    assert [_details(r)["reason"] for r in audit_rows(site, "dial.refused")] == ["disk"]


# --- registration and the desk phone ------------------------------------------------------
def _secret(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "sip.secret"
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, mode)
    return str(path)


def test_registers_with_digest_and_unregisters_at_stop(
        site: Site, make_phone: MakePhone, sipp: MakeSipp, tmp_path: Path) -> None:
    registrar = sipp("registrar").start("uas_register.xml", "-key", "user", "station1",
                                        "-key", "password", "s3cret")
    handle = make_phone(registrar=f"sip:127.0.0.1:{registrar.port}", domain="127.0.0.1",
                        account_user="station1", secret_file=_secret(tmp_path, "s3cret"),
                        trunk_pattern="sip:{e164}@127.0.0.1:9")
    changed = handle.events.wait_for(ev.RegistrationChanged)
    assert changed.registered, changed.reason
    handle.phone.stop()
    assert registrar.wait() == 0  # the 2nd REGISTER passed the digest, the 3rd un-registered
    trace = registrar.trace()
    assert 'Authorization: Digest username="station1"' in trace
    assert "Expires: 0" in trace


def test_an_unreachable_registrar_is_retried_with_a_growing_wait(
        site: Site, make_phone: MakePhone, sipp: MakeSipp) -> None:
    registrar = sipp("registrar").start("uas_register_unavailable.xml", "-m", "4")
    handle = make_phone(registrar=f"sip:127.0.0.1:{registrar.port}", domain="127.0.0.1",
                        trunk_pattern="sip:{e164}@127.0.0.1:9",
                        register_retry_first_s=0.4, register_retry_s=1)
    failures = []
    for _try in range(3):
        failed = handle.events.wait_for(ev.RegistrationChanged, registered=False)
        failures.append((time.monotonic(), failed))
    back = handle.events.wait_for(ev.RegistrationChanged, registered=True)
    back_at = time.monotonic()
    # Each 503 is announced with the wait before the next try: doubling, then capped.
    assert [f.retry_in_s for _t, f in failures] == [0.4, 0.8, 1.0]
    assert all("503" in f.reason for _t, f in failures)
    assert back.registered
    times = [t for t, _f in failures] + [back_at]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, wait in zip(gaps, [0.4, 0.8, 1.0], strict=True):
        assert gap >= wait - 0.15, gaps  # never earlier than announced
    handle.phone.stop()
    assert registrar.wait() == 0  # four REGISTERs, then the un-REGISTER at stop
    assert registrar.trace().count("REGISTER sip:") == 5


def test_wrong_password_leaves_the_station_unregistered_and_unable_to_dial(
        site: Site, make_phone: MakePhone, sipp: MakeSipp, tmp_path: Path) -> None:
    registrar = sipp("registrar").start("uas_register.xml", "-key", "user", "station1",
                                        "-key", "password", "s3cret")
    handle = make_phone(registrar=f"sip:127.0.0.1:{registrar.port}", domain="127.0.0.1",
                        account_user="station1", secret_file=_secret(tmp_path, "wrong"),
                        trunk_pattern="sip:{e164}@127.0.0.1:9")
    changed = handle.events.wait_for(ev.RegistrationChanged)
    assert not changed.registered and "403" in changed.reason
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    assert "not registered" in handle.events.wait_for(ev.EngineError).message
    assert attempt_row(site, attempt_id).state == AttemptState.CLAIMED


def test_desk_phone_leg_is_called_with_auto_answer_and_its_loss_blocks_dialing(
        site: Site, make_phone: MakePhone, sipp: MakeSipp) -> None:
    desk = sipp("desk").start("uas_remote_bye.xml", "-d", "1000", rtp_echo=True)
    # The station's desk phone comes from the stations table.
    with Session(site.engine) as s:
        station = s.get(Station, site.station_id)
        assert station is not None
        station.desk_phone_uri = f"sip:desk@127.0.0.1:{desk.port}"
        s.commit()
    handle = make_phone(agent_leg="desk_phone", agent_tone_wav="",
                        trunk_pattern="sip:{e164}@127.0.0.1:9")
    assert handle.events.wait_for(ev.AgentLegChanged, up=True)
    assert "answer-after=0" in desk.trace()
    down = handle.events.wait_for(ev.AgentLegChanged, up=False)
    assert down.reason
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    assert "disconnected" in handle.events.wait_for(ev.EngineError).message
    assert [_details(r)["reason"] for r in audit_rows(site, "dial.refused")] == ["agent_leg"]
    assert desk.wait() == 0


def test_an_engine_that_cannot_start_says_so(site: Site, make_phone: MakePhone) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        handle = make_phone(sip_port=taken.getsockname()[1], start=False,
                            trunk_pattern="sip:{e164}@127.0.0.1:9")
        handle.phone.start()
        assert not handle.phone.wait_ready()
        assert "could not start" in handle.events.wait_for(ev.EngineError).message
    attempt_id = claim(site)
    handle.phone.dial(attempt_id)
    assert "not working" in handle.events.wait_for(ev.EngineError).message
    assert attempt_row(site, attempt_id).state == AttemptState.CLAIMED
