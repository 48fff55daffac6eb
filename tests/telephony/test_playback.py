"""Recordings played on the supervisor's own audio leg: play, pause, skip, the end; the
path comes from the attempt row through the quality service, which audits it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.services.actors import Actor
from cellcall.telephony import events as ev
from cellcall.telephony.pjlib import write_tone_wav
from telephony.conftest import PhoneHandle
from telephony.monitor_support import RECORDING_HZ, Supervisor, add_user
from telephony.support import EventLog, Site, audit_rows, claim
from telephony.tones import peak_shares

SECONDS = 3.0


def _recorded_attempt(site: Site, path: Path) -> int:
    write_tone_wav(path, freqs=(RECORDING_HZ,), seconds=SECONDS)
    attempt_id = claim(site, state=AttemptState.ENDED)
    with Session(site.engine) as s:
        row = s.get(CallAttempt, attempt_id)
        assert row is not None
        row.recording_path = str(path)
        row.recording_seconds = SECONDS
        s.add(row)
        s.commit()
    return attempt_id


def _progress(events: EventLog, fits: Callable[[ev.PlaybackProgress], bool],
              timeout: float = 10.0) -> ev.PlaybackProgress:
    """The first progress event that fits (the periodic ones before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        event = events.wait_for(ev.PlaybackProgress, timeout=deadline - time.monotonic())
        if fits(event):
            return event


def _forget(events: EventLog) -> None:
    events.drain()
    events.events.clear()


def test_play_pause_skip_and_the_supervisor_hears_it(
        site: Site, supervisor: Supervisor, tmp_path: Path) -> None:
    attempt_id = _recorded_attempt(
        site, tmp_path / "recordings" / "2026" / "01" / "05" / "attempt-x.wav")
    phone, events = supervisor.phone, supervisor.events
    phone.play_recording(attempt_id)
    first = events.wait_for(ev.PlaybackProgress, attempt_id=attempt_id)
    assert (first.duration_s, first.paused) == (SECONDS, False)
    assert first.position_s < 0.5
    time.sleep(0.8)
    _forget(events)
    phone.pause_playback()
    paused = _progress(events, lambda e: e.paused)
    assert 0.2 < paused.position_s < SECONDS
    time.sleep(0.6)  # paused: the position holds...
    _forget(events)
    phone.skip(1.0)  # ... so that a skip lands exactly one second further
    skipped = _progress(events, lambda e: e.position_s != paused.position_s)
    assert skipped.paused and abs(skipped.position_s - paused.position_s - 1.0) < 0.015
    phone.skip(-10.0)  # clamped to the start
    _progress(events, lambda e: e.position_s == 0.0)
    _forget(events)
    phone.resume_playback()
    resumed = _progress(events, lambda e: not e.paused)
    assert resumed.position_s == 0.0
    events.wait_for(ev.PlaybackEnded, attempt_id=attempt_id, timeout=15)
    phone.stop()  # closes the recording of what the supervisor heard
    heard = peak_shares(supervisor.hears, (RECORDING_HZ, 440.0))
    assert heard[RECORDING_HZ] > 0.5 and heard[440.0] < 0.01, heard
    played = audit_rows(site, "recording_played")
    assert [(r.actor, r.target) for r in played] == [("sup1", f"attempt:{attempt_id}")]


def test_stop_ends_the_playback(site: Site, supervisor: Supervisor, tmp_path: Path) -> None:
    attempt_id = _recorded_attempt(site, tmp_path / "recordings" / "a.wav")
    supervisor.phone.play_recording(attempt_id)
    supervisor.events.wait_for(ev.PlaybackProgress, attempt_id=attempt_id)
    supervisor.phone.stop_playback()
    supervisor.events.wait_for(ev.PlaybackEnded, attempt_id=attempt_id)


def test_operators_and_foreign_paths_are_refused(site: Site, supervisor: Supervisor,
                                                 tmp_path: Path) -> None:
    inside = _recorded_attempt(site, tmp_path / "recordings" / "b.wav")
    outside = _recorded_attempt(site, tmp_path / "elsewhere" / "c.wav")
    supervisor.phone.set_operator(Actor(login="op1", role="operator",  # type: ignore[arg-type]
                                        user_id=site.operator_id))
    supervisor.phone.play_recording(inside)
    assert "supervisor" in supervisor.events.wait_for(ev.EngineError).message
    supervisor.phone.set_operator(supervisor.actor)
    supervisor.phone.play_recording(outside)
    assert "outside" in supervisor.events.wait_for(ev.EngineError).message
    supervisor.phone.play_recording(inside + 1000)
    assert "does not exist" in supervisor.events.wait_for(ev.EngineError).message
    assert audit_rows(site, "recording_played") == []


def test_a_null_leg_without_a_recorder_still_plays_to_the_end(
        site: Site, make_phone: Callable[..., PhoneHandle], tmp_path: Path) -> None:
    """The demo's supervisor: no audio device at all, the playback still runs its course
    (the null sound device takes the frames)."""
    actor = add_user(site.engine, "sup9", "supervisor")
    handle = make_phone(operator=actor)
    attempt_id = _recorded_attempt(site, tmp_path / "recordings" / "d.wav")
    handle.phone.play_recording(attempt_id)
    handle.events.wait_for(ev.PlaybackProgress, attempt_id=attempt_id)
    moving = _progress(handle.events, lambda e: e.position_s > 0.4)
    assert not moving.paused
    handle.events.wait_for(ev.PlaybackEnded, attempt_id=attempt_id, timeout=15)
