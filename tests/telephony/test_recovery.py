"""Crash safety: calls a dead process left open are closed at the next start."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.contacts import ContactStatus
from cellcall.telephony.recovery import recover_interrupted
from telephony.support import attempt_row, audit_rows, claim, contact_row, make_site


def test_open_attempts_of_this_station_are_interrupted(engine: Engine) -> None:
    site = make_site(engine)
    dialing = claim(site, state=AttemptState.DIALING)
    connected = claim(site, state=AttemptState.CONNECTED)
    claimed = claim(site)
    other_station = claim(site, state=AttemptState.RINGING, station_id=site.other_station_id)
    closed = recover_interrupted(engine=engine, station_id=site.station_id)
    assert sorted(closed) == sorted([dialing, connected])
    for attempt_id in (dialing, connected):
        row = attempt_row(site, attempt_id)
        assert row.state == AttemptState.INTERRUPTED
        assert row.ended_at is not None and row.counts_against_caps is False
        contact = contact_row(site, row.contact_id)
        assert contact.status == ContactStatus.PENDING
        assert contact.lease_user_id is None and contact.lease_expires_at is None
    assert attempt_row(site, claimed).state == AttemptState.CLAIMED
    assert attempt_row(site, other_station).state == AttemptState.RINGING
    events = audit_rows(site, "call.interrupted")
    assert len(events) == 1
    assert recover_interrupted(engine=engine, station_id=site.station_id) == []


def test_a_contact_leased_again_to_someone_else_is_left_alone(engine: Engine) -> None:
    site = make_site(engine)
    attempt_id = claim(site, state=AttemptState.CONNECTED)
    with Session(engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
        assert attempt is not None
        contact_id = attempt.contact_id
        from cellcall.models.contacts import Contact

        contact = s.get(Contact, contact_id)
        assert contact is not None
        contact.lease_user_id = site.other_operator_id
        s.commit()
    recover_interrupted(engine=engine, all_stations=True)
    assert attempt_row(site, attempt_id).state == AttemptState.INTERRUPTED
    contact = contact_row(site, contact_id)
    assert contact.status == ContactStatus.CLAIMED
    assert contact.lease_user_id == site.other_operator_id


def test_the_engine_recovers_at_start(engine: Engine, tmp_path: object) -> None:
    from pathlib import Path

    from cellcall.telephony.config import TelephonyConfig
    from cellcall.telephony.engine import SipPhone

    site = make_site(engine)
    stale = claim(site, state=AttemptState.CONNECTED)
    assert isinstance(tmp_path, Path)
    phone = SipPhone(engine=engine, station_id=site.station_id, config=TelephonyConfig(
        recordings_dir=str(tmp_path / "rec")))
    phone.start()
    try:
        assert phone.wait_ready()
    finally:
        phone.stop()
    assert attempt_row(site, stale).state == AttemptState.INTERRUPTED
