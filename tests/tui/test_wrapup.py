"""Wrap-up: each kind of field, checked in the rows it writes; no way out without a valid
outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, SelectionList, Static, TextArea

from cellcall.db import run_write
from cellcall.i18n import _
from cellcall.models.calls import (
    Appointment,
    Callback,
    Outcome,
    SurveyAnswer,
    VerificationCorrection,
)
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.services import campaigns, demo
from cellcall.services.actors import SYSTEM
from cellcall.services.workstation import StationState
from cellcall.tui.screens.workstation import WorkstationScreen
from cellcall.tui.screens.wrapup import WrapUpScreen
from tui.support import (
    Site,
    choose_outcome,
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


async def to_wrap_up(pilot: Pilot[Any], site: Site, *script_keys: str) -> int:
    """Preview, dial, answer, walk the script with ``script_keys``, the callee hangs up."""
    if station_state(pilot.app) != StationState.PREVIEW:
        await wait_until(pilot, lambda: station_state(pilot.app) == StationState.PREVIEW,
                         "a contact in preview")
        await settle(pilot)
    attempt_id = await dial_and_answer(pilot, site.phone)
    for key in script_keys:
        await pilot.press(key)
    await remote_hang_up(pilot, site.phone, attempt_id)
    return attempt_id


async def save(pilot: Pilot[Any]) -> None:
    """Ctrl+S; the form closes and the station is Ready for the next contact."""
    await pilot.press("ctrl+s")
    await wait_for_screen(pilot, WorkstationScreen, f"the wrap-up closes ({wrapup_error(pilot)})")
    await settle(pilot)


def wrapup_error(pilot: Pilot[Any]) -> str:
    if not isinstance(pilot.app.screen, WrapUpScreen):
        return ""
    return str(pilot.app.screen.query_one("#wrapup-error", Static).render())


async def refused(pilot: Pilot[Any]) -> str:
    """Ctrl+S that must be refused: the form stays, with an error line."""
    await pilot.press("ctrl+s")
    await settle(pilot)
    await wait_until(pilot, lambda: wrapup_error(pilot), "an error in the form")
    assert isinstance(pilot.app.screen, WrapUpScreen)
    return wrapup_error(pilot)


def test_appointment_books_the_chosen_slot_and_saves_the_script_path(site: Site) -> None:
    app = site.app()
    chosen: list[str] = []
    offered_after: list[list[str]] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        # Right person, an objection answered on the way, interested, good profile, slot.
        await to_wrap_up(pilot, site, "1", "f9", "down", "enter", "backspace", "1", "1", "1")
        await choose_outcome(pilot, "appointment_set")
        slot = app.screen.query_one("#appointment", Select)
        assert app.focused is slot
        # Open the list, move past the prompt to the third free slot, take it.
        await pilot.press("enter", "down", "down", "down", "enter")
        await settle(pilot)
        assert isinstance(slot.value, str)
        chosen.append(slot.value)
        notes = app.screen.query_one("#notes", TextArea)
        notes.text = "Rendez-vous pris avec la gérante."
        site.clock.advance(seconds=42)
        await save(pilot)
        # The next contact: the booked slot is no longer offered.
        await to_wrap_up(pilot, site)
        await choose_outcome(pilot, "appointment_set")
        select = app.screen.query_one("#appointment", Select)
        offered_after.append([str(value) for _label, value in select._options])

    drive(app, scenario)
    start = datetime.fromisoformat(chosen[0])
    # Tuesday 10:30 in Paris: the free slots begin at 11:00, 11:30, then 14:00.
    assert start == datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
    outcome = site.one(Outcome, Outcome.disposition == "appointment_set")
    assert outcome.notes == "Rendez-vous pris avec la gérante."
    assert outcome.script_path == ["greeting", "purpose", "objection:send_email", "qualify",
                                   "propose_slot", "confirm"]
    assert outcome.wrapup_seconds == 42
    appointment = site.one(Appointment)
    assert appointment.slot_start == start
    assert appointment.slot_end == start + timedelta(minutes=30)
    assert appointment.outcome_id == outcome.id
    assert site.contact(outcome.contact_id).status == "done"
    assert chosen[0] not in offered_after[0]
    assert len(offered_after[0]) > 3


def test_callback_is_taken_in_the_callee_local_time(site: Site) -> None:
    site.set_contact(1, status="done")  # the next contact is in Guadeloupe
    app = site.app()
    label: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        assert current_contact(app).time_zones == ("America/Guadeloupe",)
        await to_wrap_up(pilot, site, "3")
        await choose_outcome(pilot, "callback")
        label.append(screen_text(app))
        # A time that is not one: refused on screen, nothing saved.
        await fill(pilot, "#callback", "31/02/2026 15:00")
        assert await refused(pilot)
        # In the past for the callee: refused by the outcome service.
        await fill(pilot, "#callback", "17/11/2026 05:00")
        assert await refused(pilot)
        await fill(pilot, "#callback", "18/11/2026 15:00")
        assert app.screen.query_one("#callback-personal", Checkbox).value is True
        await save(pilot)

    drive(app, scenario)
    assert "America/Guadeloupe" in label[0]
    outcome = site.one(Outcome)
    assert outcome.disposition == "callback"
    callback = site.one(Callback)
    # 15:00 in Guadeloupe (UTC-4) is 19:00 UTC.
    assert callback.due_at == datetime(2026, 11, 18, 19, 0, tzinfo=UTC)
    assert callback.personal_operator_id == site.user_id("operateur")
    contact = site.contact(outcome.contact_id)
    assert contact.next_attempt_at == callback.due_at


def test_callback_for_anyone(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await to_wrap_up(pilot, site)
        await choose_outcome(pilot, "callback")
        await fill(pilot, "#callback", "19/11/2026 09:15")
        app.screen.query_one("#callback-personal", Checkbox).focus()
        await pilot.press("space")
        await save(pilot)

    drive(app, scenario)
    callback = site.one(Callback)
    assert callback.personal_operator_id is None
    # Paris is UTC+1 in November.
    assert callback.due_at == datetime(2026, 11, 19, 8, 15, tzinfo=UTC)


def test_survey_answers_of_every_kind(site: Site) -> None:
    site.only_campaign("demo-enquete")
    site.configure("queue", progressive_delay_seconds=0)
    app = site.app()
    contact_ids: list[int] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "operateur")
        await wait_until(pilot, lambda: site.phone.dialed, "the progressive dial")
        contact = current_contact(app)
        contact_ids.append(contact.contact_id)
        site.phone.answer(contact.attempt_id)
        await wait_until(pilot, lambda: station_state(app) == StationState.TALKING, "talking")
        await remote_hang_up(pilot, site.phone, contact.attempt_id)
        await choose_outcome(pilot, "completed")
        screen = app.screen
        # The labels are the script's, in the contact's language, variables filled in.
        labels = " ".join(str(label.render()) for label in screen.query("#wrapup-fields Label"))
        assert "{client.name}" not in labels
        assert demo.DEMO_CLIENT in labels
        scale = screen.query_one("#survey-satisfaction", Select)
        assert app.focused is scale
        await pilot.press("enter", "down", "down", "down", "down", "enter")  # 1, 2, 3, 4
        screen.query_one("#survey-channel", Select).value = "website"
        topics = screen.query_one("#survey-topics", SelectionList)
        topics.focus()
        # Tick "staff" then "price": stored in the script's order.
        await pilot.press("down", "down", "down", "space", "home", "space")
        screen.query_one("#survey-recommend", Select).value = 0
        await fill(pilot, "#survey-comment", "[b]Très[/b] bien")
        await save(pilot)

    drive(app, scenario)
    outcome = site.one(Outcome)
    assert outcome.disposition == "completed"
    assert outcome.contact_id == contact_ids[0]
    answers = {a.question_key: a.answer for a in site.rows(SurveyAnswer)}
    assert answers == {"satisfaction": 4, "channel": "website", "topics": ["price", "staff"],
                       "recommend": 0, "comment": "[b]Très[/b] bien"}


def test_a_required_survey_question_left_blank_is_refused(site: Site) -> None:
    site.only_campaign("demo-enquete")
    site.configure("queue", progressive_delay_seconds=3600)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await to_wrap_up(pilot, site)
        await choose_outcome(pilot, "completed")
        error = await refused(pilot)
        assert "Satisf" in error or "memnuniyet" in error or "Удовлетвор" in error.title()

    drive(app, scenario)
    assert not site.rows(Outcome)
    assert not site.rows(SurveyAnswer)


VERIFICATION_SCRIPT = """\
title: {fr: "Mise à jour du fichier"}
languages: [fr]
start: hello
nodes:
  hello:
    text: {fr: "Bonjour {contact.first_name}, je vérifie vos coordonnées."}
verification:
  - {key: company, label: {fr: "Raison sociale"}}
  - {key: Ville, label: {fr: "Ville"}}
dispositions: [completed, callback, not_interested]
"""


def add_verification_campaign(site: Site, tmp_path: Path) -> int:
    script = tmp_path / "verification.yaml"
    script.write_text(VERIFICATION_SCRIPT, encoding="utf-8")

    def work(session: Any) -> int:
        campaign = campaigns.create_campaign(session=session, actor=SYSTEM, data=CampaignCreate(
            slug="verif", client_name=demo.DEMO_CLIENT, type=CampaignType.VERIFICATION,
            audience=Audience.BUSINESS, country="FR", languages=["fr"],
            script_path=str(script)))
        campaign.ignore_calling_hours = True
        campaign.working_hours = dict(demo.ALL_HOURS)
        session.add(campaign)
        contact = Contact(campaign_id=campaign.id or 0, first_name="Agnès", last_name="Roux",
                          company="Roux Frères", phone_e164="+33123456789",
                          time_zones=["Europe/Paris"], language="fr",
                          custom_fields={"Ville": "Lyon"})
        session.add(contact)
        session.flush()
        return contact.id or 0

    contact_id = run_write(site.engine, work)
    site.only_campaign("verif")
    return contact_id


def test_verification_keeps_the_original_beside_the_correction(site: Site,
                                                              tmp_path: Path) -> None:
    contact_id = add_verification_campaign(site, tmp_path)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        assert current_contact(app).contact_id == contact_id
        await to_wrap_up(pilot, site)
        await choose_outcome(pilot, "completed")
        assert app.screen.query_one("#verify-company", Input).value == "Roux Frères"
        assert app.screen.query_one("#verify-Ville", Input).value == "Lyon"
        await fill(pilot, "#verify-Ville", "Lyon 3e")
        await save(pilot)

    drive(app, scenario)
    correction = site.one(VerificationCorrection)
    assert (correction.field_name, correction.original_value, correction.corrected_value) == (
        "Ville", "Lyon", "Lyon 3e")
    assert correction.contact_id == contact_id


def test_wrap_up_cannot_be_left_without_a_valid_outcome(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await to_wrap_up(pilot, site)
        for key in ("escape", "f10", "f8", "ctrl+c", "ctrl+q"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, WrapUpScreen), key
        # The first line of the list is highlighted, but nothing is chosen yet.
        assert await refused(pilot) == _("Choose an outcome first.")
        await choose_outcome(pilot, "appointment_set")
        # No slot chosen: the outcome service refuses, the form stays.
        assert await refused(pilot)
        assert station_state(app) == StationState.WRAP_UP
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, WrapUpScreen)

    drive(app, scenario)
    assert not site.rows(Outcome)
    assert not site.rows(Appointment)


def test_do_not_call_puts_the_number_on_the_list(site: Site) -> None:
    from cellcall.models.contacts import DoNotCallEntry

    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await to_wrap_up(pilot, site)
        await choose_outcome(pilot, "do_not_call")
        await save(pilot)

    drive(app, scenario)
    outcome = site.one(Outcome)
    contact = site.contact(outcome.contact_id)
    assert contact.status == ContactStatus.DO_NOT_CALL
    assert site.rows(DoNotCallEntry, DoNotCallEntry.phone_e164 == contact.phone_e164)
