"""The operator's working loop, driven with the keyboard: claim, preview, dial, talk,
automatic outcomes, pause, idle lock, logout, progressive mode."""

from __future__ import annotations

from typing import Any

import phonenumbers
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from cellcall.i18n import _
from cellcall.models.calls import CallAttempt, Outcome
from cellcall.models.contacts import Contact
from cellcall.models.timeclock import TimeEntry
from cellcall.services.workstation import StationState
from cellcall.telephony import events
from cellcall.tui.screens.keypad import KeypadScreen
from cellcall.tui.screens.lock import LockScreen
from cellcall.tui.screens.login import LoginScreen
from cellcall.tui.screens.pause import PauseScreen
from cellcall.tui.screens.workstation import WorkstationScreen
from cellcall.tui.screens.wrapup import WrapUpScreen
from cellcall.tui.widgets.state_bar import StateBar
from tui.support import (
    DEMO_PASSWORD,
    Site,
    current_contact,
    dial_and_answer,
    drive,
    fill,
    log_in,
    log_in_operator,
    remote_hang_up,
    screen_text,
    settle,
    station_state,
    wait_for_screen,
    wait_until,
)


def number_forms(e164: str) -> list[str]:
    """The ways a full number could be written on screen (spaces removed)."""
    parsed = phonenumbers.parse(e164)
    national = str(parsed.national_number)
    return [e164, national, phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.NATIONAL).replace(" ", "")]


def test_preview_shows_the_masked_number_and_never_the_full_one(site: Site) -> None:
    app = site.app()
    shown: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        assert isinstance(app.screen, WorkstationScreen)
        contact = current_contact(app)
        row = site.contact(contact.contact_id)
        assert contact.masked_number and "•" in contact.masked_number
        # The operator side never holds the number itself.
        assert row.phone_e164 not in repr(contact)
        text = screen_text(app)
        shown.append(text)
        assert contact.masked_number in text
        assert row.first_name in text and row.company in text
        flat = "".join(text.split())
        for form in number_forms(row.phone_e164):
            assert form not in flat, f"{form} is on screen"
        # The callee's local time (the frozen clock is 10:30 in Paris).
        assert "10:30" in text

    drive(app, scenario, size=(80, 24))
    assert shown


def test_dial_takes_the_claimed_attempt_and_the_call_reaches_wrap_up(site: Site) -> None:
    app = site.app()
    phone = site.phone

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        # Dial is refused in every state but Preview: nothing was dialled by logging in.
        assert phone.dialed == []
        attempt_id = await dial_and_answer(pilot, phone)
        assert phone.dialed == [attempt_id]
        # Pressing F5 again while talking does not dial anything.
        await pilot.press("f5")
        await settle(pilot)
        assert phone.dialed == [attempt_id]
        # The script moves on with the digit keys.
        await pilot.press("1")
        await settle(pilot)
        assert "Bonne personne" not in screen_text(app)
        await remote_hang_up(pilot, phone, attempt_id)
        assert station_state(app) == StationState.WRAP_UP

    drive(app, scenario)
    attempt = site.one(CallAttempt, CallAttempt.id == phone.dialed[0])
    assert attempt.operator_id == site.user_id("operateur")


def test_mute_and_operator_hang_up_go_through_the_phone(site: Site) -> None:
    app = site.app()
    phone = site.phone

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        attempt_id = await dial_and_answer(pilot, phone)
        await pilot.press("f7")
        await settle(pilot)
        assert phone.muted == [True]
        assert app.screen.query_one(StateBar).detail
        await pilot.press("f7")
        await settle(pilot)
        assert phone.muted == [True, False]
        await pilot.press("f6")
        await settle(pilot)
        assert phone.hangups == 1
        phone.emit(events.CallEnded(attempt_id=attempt_id, result=events.OPERATOR_HANGUP,
                                    sip_status=200, reason="BYE"))
        await wait_for_screen(pilot, WrapUpScreen, "the wrap-up form opens")

    drive(app, scenario)


def footer_line(app: Any) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


def test_hold_in_a_call_takes_f8_and_says_so(site: Site) -> None:
    app = site.app()
    phone = site.phone

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await dial_and_answer(pilot, phone)
        # The footer is rebuilt when the state changes its keys.
        await wait_until(pilot, lambda: _("Hold") in footer_line(app), "the hold key")
        await pilot.press("f8")
        await settle(pilot)
        assert phone.held == [True]
        assert station_state(app) == StationState.TALKING  # not a pause of the operator
        assert app.screen.query_one(StateBar).detail == _("on hold")
        await wait_until(pilot, lambda: _("Take back") in footer_line(app), "the take-back key")
        await pilot.press("f7")
        await settle(pilot)
        assert app.screen.query_one(StateBar).detail == f"{_('on hold')}, {_('muted')}"
        await pilot.press("f8")
        await settle(pilot)
        assert phone.held == [True, False]
        assert app.screen.query_one(StateBar).detail == _("muted")

    drive(app, scenario)


def test_the_keypad_sends_digits_into_the_call_and_closes_with_it(site: Site) -> None:
    app = site.app()
    phone = site.phone

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await wait_until(pilot, lambda: _("Dial") in footer_line(app), "the preview's keys")
        assert _("Keypad") not in footer_line(app)  # no call, no keypad
        await pilot.press("f4")
        await settle(pilot)
        assert not isinstance(app.screen, KeypadScreen)
        attempt_id = await dial_and_answer(pilot, phone)
        await pilot.press("f4")
        await wait_for_screen(pilot, KeypadScreen, "the keypad")
        await pilot.press("1", "a", "+", "asterisk", "number_sign", "0")
        await settle(pilot)
        assert phone.dtmf == ["1", "*", "#", "0"]  # nothing else is a key of the keypad
        assert _("Sent: {digits}").format(digits="1*#0") in screen_text(app)
        phone.emit(events.EngineError(message="This call may take only 8 digits: ask a "
                                              "supervisor."))
        await settle(pilot)
        assert "only 8 digits" in screen_text(app)
        assert _("Sent: {digits}").format(digits="1*#") in screen_text(app)  # 0 refused
        await pilot.press("escape")
        await wait_for_screen(pilot, WorkstationScreen, "back to the call")
        await pilot.press("f4")
        await wait_for_screen(pilot, KeypadScreen, "the keypad again")
        # The callee hangs up while the keypad is open: it goes, the wrap-up comes.
        await remote_hang_up(pilot, phone, attempt_id)
        assert not any(isinstance(s, KeypadScreen) for s in app.screen_stack)

    drive(app, scenario)


def test_phone_trouble_is_shown_and_a_refused_dial_keeps_the_contact(site: Site) -> None:
    app = site.app()
    phone = site.phone

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        phone.emit(events.AgentLegChanged(up=False, reason="desk phone unplugged"))
        await settle(pilot)
        assert app.screen.query_one(StateBar).phone_up is False
        assert _("PHONE DISCONNECTED") in screen_text(app)
        contact = current_contact(app)
        await pilot.press("f5")
        await wait_until(pilot, lambda: phone.dialed, "dialled")
        phone.emit(events.EngineError(message="No line to the PBX [now]."))
        await settle(pilot)
        # Back to Preview with the same contact, the engine's message shown as it is.
        assert station_state(app) == StationState.PREVIEW
        assert current_contact(app).attempt_id == contact.attempt_id
        assert "No line to the PBX [now]." in screen_text(app)
        phone.emit(events.AgentLegChanged(up=True, reason="back"))
        await settle(pilot)
        assert _("PHONE DISCONNECTED") not in screen_text(app)
        # An unreachable PBX is shown the same way until it registers again.
        phone.emit(events.RegistrationChanged(registered=False, reason="503 Unreachable",
                                              retry_in_s=20.0))
        await settle(pilot)
        assert _("PHONE DISCONNECTED") in screen_text(app)
        assert _("The telephone exchange does not answer; next try in {seconds} s.").format(
            seconds=20) in screen_text(app)
        phone.emit(events.RegistrationChanged(registered=True, reason="200 OK"))
        await settle(pilot)
        assert _("PHONE DISCONNECTED") not in screen_text(app)
        assert _("The telephone exchange answers again.") in screen_text(app)

    drive(app, scenario)


def test_events_of_another_attempt_are_ignored(site: Site) -> None:
    app = site.app()
    phone = site.phone

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        attempt_id = await dial_and_answer(pilot, phone)
        phone.emit(events.CallEnded(attempt_id=attempt_id + 1000, result=events.BUSY,
                                    sip_status=486, reason="Busy Here"))
        await settle(pilot)
        assert station_state(app) == StationState.TALKING

    drive(app, scenario)


def run_automatic(site: Site, result: str, sip_status: int) -> tuple[int, int]:
    """Dial the first contact, the network answers ``result``; returns (contact, next contact)."""
    app = site.app()
    phone = site.phone
    ids: list[int] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        first = current_contact(app)
        ids.append(first.contact_id)
        await pilot.press("f5")
        await wait_until(pilot, lambda: first.attempt_id in phone.dialed, "dialled")
        phone.emit(events.CallProgress(attempt_id=first.attempt_id, state=events.RINGING))
        phone.emit(events.CallEnded(attempt_id=first.attempt_id, result=result,
                                    sip_status=sip_status, reason=result))
        await wait_until(pilot, lambda: app.workstation.current is not None  # type: ignore[attr-defined]
                         and current_contact(app).contact_id != first.contact_id,
                         "the next contact is on screen")
        await settle(pilot)
        # No form was needed.
        assert isinstance(app.screen, WorkstationScreen)
        assert station_state(app) == StationState.PREVIEW
        ids.append(current_contact(app).contact_id)

    drive(app, scenario)
    return ids[0], ids[1]


def test_busy_is_recorded_without_a_form_and_the_contact_comes_back_later(site: Site) -> None:
    first, _next = run_automatic(site, events.BUSY, 486)
    outcome = site.one(Outcome, Outcome.contact_id == first)
    assert outcome.disposition == "busy"
    contact = site.contact(first)
    assert contact.status == "pending"
    assert contact.attempts == 1
    assert contact.next_attempt_at is not None and contact.next_attempt_at > site.clock()
    assert contact.lease_user_id is None


def test_no_answer_is_recorded_without_a_form_and_retried_later(site: Site) -> None:
    first, _next = run_automatic(site, events.NO_ANSWER, 480)
    assert site.one(Outcome, Outcome.contact_id == first).disposition == "no_answer"
    contact = site.contact(first)
    assert contact.status == "pending"
    assert contact.next_attempt_at is not None and contact.next_attempt_at > site.clock()


async def choose_pause(pilot: Pilot[Any], reason: str) -> None:
    await pilot.press("f8")
    await wait_for_screen(pilot, PauseScreen, "pause menu")
    options = pilot.app.screen.query_one(OptionList)
    index = next(i for i in range(options.option_count)
                 if options.get_option_at_index(i).id == reason)
    options.highlighted = index
    await pilot.press("enter")
    await wait_until(pilot, lambda: station_state(pilot.app) == StationState.PAUSED,
                     "the station is paused")
    await settle(pilot)


def test_pause_with_a_reason_then_resume(site: Site) -> None:
    app = site.app()
    claimed: list[int] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        claimed.append(current_contact(app).contact_id)
        # Escape leaves the pause menu without pausing.
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "pause menu")
        await pilot.press("escape")
        await settle(pilot)
        assert station_state(app) == StationState.PREVIEW
        await choose_pause(pilot, "meal")
        # The previewed contact went back to the queue; nothing to dial while paused.
        assert app.workstation.current is None  # type: ignore[attr-defined]
        assert site.contact(claimed[0]).lease_user_id is None
        await pilot.press("f5")
        await settle(pilot)
        assert site.phone.dialed == []
        pause = site.one(TimeEntry, TimeEntry.kind == "pause")
        assert pause.reason == "meal" and pause.ended_at is None
        await pilot.press("f8")
        await wait_until(pilot, lambda: station_state(app) == StationState.PREVIEW,
                         "back to work with a contact")
        await settle(pilot)

    drive(app, scenario)
    pause = site.one(TimeEntry, TimeEntry.kind == "pause")
    assert pause.ended_at is not None
    work = site.rows(TimeEntry, TimeEntry.kind == "work")
    assert work and all(w.user_id == site.user_id("operateur") for w in work)


def test_idle_lock_keeps_the_lease_and_unlocks_with_the_password(site: Site) -> None:
    app = site.app(idle_lock_seconds=0.3)
    kept: list[int] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        contact = current_contact(app)
        await wait_for_screen(pilot, LockScreen, "the idle lock")
        app.idle_lock_seconds = 3600  # type: ignore[attr-defined]
        row = site.contact(contact.contact_id)
        assert row.lease_user_id == site.user_id("operateur")
        # The workstation's content is hidden behind the lock.
        assert contact.first_name not in screen_text(app)
        await fill(pilot, "#lock-password", "not-the-password")
        await pilot.press("enter")
        await wait_until(pilot, lambda: str(app.screen.query_one("#lock-error", Static)
                                            .render()) != "", "an unlock error")
        assert isinstance(app.screen, LockScreen)
        await fill(pilot, "#lock-password", DEMO_PASSWORD)
        await pilot.press("enter")
        await wait_for_screen(pilot, WorkstationScreen, "unlocked")
        await settle(pilot)
        assert current_contact(app).attempt_id == contact.attempt_id
        assert station_state(app) == StationState.PREVIEW
        kept.append(contact.contact_id)

    drive(app, scenario)
    assert site.contact(kept[0]).lease_user_id == site.user_id("operateur")


def test_no_idle_lock_during_a_call_but_one_after_it(site: Site) -> None:
    app = site.app(idle_lock_seconds=0.2)

    async def scenario(pilot: Pilot[Any]) -> None:
        app.idle_lock_seconds = 3600  # type: ignore[attr-defined]
        await log_in_operator(pilot)
        attempt_id = await dial_and_answer(pilot, site.phone)
        app.idle_lock_seconds = 0.2  # type: ignore[attr-defined]
        await pilot.pause(0.6)
        assert not isinstance(app.screen, LockScreen)
        assert station_state(app) == StationState.TALKING
        site.phone.remote_hangup(attempt_id)
        await wait_for_screen(pilot, LockScreen, "the lock once the call is over")
        app.idle_lock_seconds = 3600  # type: ignore[attr-defined]
        await settle(pilot)
        assert station_state(app) == StationState.WRAP_UP
        # Whichever came first, the wrap-up form never shows over the lock.
        assert isinstance(app.screen, LockScreen)
        await fill(pilot, "#lock-password", DEMO_PASSWORD)
        await pilot.press("enter")
        await wait_for_screen(pilot, WrapUpScreen, "the wrap-up form after unlocking")

    drive(app, scenario)


def test_logout_from_the_lock_screen_releases_the_contact(site: Site) -> None:
    app = site.app(idle_lock_seconds=0.3)
    claimed: list[int] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        claimed.append(current_contact(app).contact_id)
        await wait_for_screen(pilot, LockScreen, "the idle lock")
        await pilot.click("#lock-logout")
        await wait_for_screen(pilot, LoginScreen, "logged out")
        await settle(pilot)

    drive(app, scenario)
    assert site.contact(claimed[0]).lease_user_id is None
    assert all(e.ended_at is not None for e in site.rows(TimeEntry))


def test_logout_releases_the_lease_and_closes_the_time_entry(site: Site) -> None:
    app = site.app()
    claimed: list[int] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        claimed.append(current_contact(app).attempt_id)
        await pilot.press("f10")
        await wait_for_screen(pilot, LoginScreen, "logged out")
        await settle(pilot)
        assert app.workstation.user is None  # type: ignore[attr-defined]
        # The login form is empty and focused for the next person, who just types.
        login = app.screen.query_one("#login", Input)
        assert app.focused is login
        assert app.screen.query_one("#password", Input).value == ""
        await pilot.press(*"op")
        assert login.value == "op"
        login.value = ""
        snapshot_db.append(site.contact(current_attempt_contact(site, claimed[0])))
        # The same terminal serves the next shift.
        await log_in_operator(pilot)
        assert current_contact(app).attempt_id != claimed[0]

    snapshot_db: list[Contact] = []
    drive(app, scenario)
    after_logout = snapshot_db[0]
    assert after_logout.lease_user_id is None and after_logout.lease_expires_at is None
    attempt = site.one(CallAttempt, CallAttempt.id == claimed[0])
    assert attempt.ended_at is not None
    entries = site.rows(TimeEntry)
    assert len(entries) == 2
    assert entries[0].ended_at is not None and entries[1].ended_at is None
    assert not site.rows(Outcome)


def current_attempt_contact(site: Site, attempt_id: int) -> int:
    return int(site.one(CallAttempt, CallAttempt.id == attempt_id).contact_id)


def test_logout_is_refused_during_a_call(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await dial_and_answer(pilot, site.phone)
        await pilot.press("f10")
        await settle(pilot)
        assert isinstance(app.screen, WorkstationScreen)
        assert app.workstation.user is not None  # type: ignore[attr-defined]

    drive(app, scenario)


def test_progressive_campaign_dials_by_itself(site: Site) -> None:
    site.only_campaign("demo-enquete")
    site.configure("queue", progressive_delay_seconds=0.2)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "operateur")
        await wait_until(pilot, lambda: site.phone.dialed, "the progressive dial")
        contact = current_contact(app)
        assert site.phone.dialed == [contact.attempt_id]
        assert contact.campaign_slug == "demo-enquete"
        assert station_state(app) == StationState.DIALING

    drive(app, scenario)


def test_preview_campaign_never_dials_by_itself(site: Site) -> None:
    site.configure("queue", progressive_delay_seconds=0)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        assert current_contact(app).dialing_mode == "preview"
        await pilot.pause(0.3)
        await settle(pilot)
        assert site.phone.dialed == []
        assert station_state(app) == StationState.PREVIEW

    drive(app, scenario)


def test_no_progressive_dial_while_choosing_a_pause_nor_once_paused(site: Site) -> None:
    site.only_campaign("demo-enquete")
    site.configure("queue", progressive_delay_seconds=2.5)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "pause menu")
        assert station_state(app) == StationState.PREVIEW
        await pilot.pause(3.0)  # longer than the countdown, with the menu open
        assert site.phone.dialed == []
        options = app.screen.query_one(OptionList)
        options.highlighted = 0  # break
        await pilot.press("enter")
        await wait_until(pilot, lambda: station_state(app) == StationState.PAUSED, "paused")
        await settle(pilot)
        assert site.phone.dialed == []

    drive(app, scenario)


def test_a_cancelled_pause_menu_starts_the_countdown_again(site: Site) -> None:
    site.only_campaign("demo-enquete")
    site.configure("queue", progressive_delay_seconds=2.5)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "pause menu")
        await pilot.press("escape")
        await wait_until(pilot, lambda: site.phone.dialed, "the progressive dial")
        assert station_state(app) == StationState.DIALING

    drive(app, scenario)


def test_nothing_callable_says_why(site: Site) -> None:
    site.only_campaign("no-such-campaign")  # closes both demo campaigns
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot, until=StationState.READY)
        await wait_until(pilot, lambda: str(app.screen.query_one("#station-message", Static)
                                            .render()).strip(), "a reason on screen")
        assert app.workstation.current is None  # type: ignore[attr-defined]
        assert not site.rows(Contact, Contact.lease_user_id.is_not(None))  # type: ignore[union-attr]

    drive(app, scenario)
