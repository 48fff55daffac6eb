"""Wrap-up: the outcome of the call, with the fields its disposition needs.

The screen cannot be left without a valid outcome: there is no cancel binding, and the
outcome service validates everything (the form only collects).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Input,
    Label,
    OptionList,
    Select,
    SelectionList,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.services import outcomes, scripts
from cellcall.services.queue import ClaimedContact
from cellcall.services.workstation import WrapUpContext
from cellcall.tui.messages import ServiceFailed
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal

CALLBACK_FORMAT = "%d/%m/%Y %H:%M"


def slot_label(slot: datetime, zone: str) -> str:
    return slot.astimezone(ZoneInfo(zone)).strftime("%a %d/%m %H:%M")


def _wrapup_bindings() -> list[BindingType]:
    return [
        Binding("ctrl+s", "save", _("Save outcome"), id="wrapup.save"),
    ]


class WrapUpScreen(CellcallModal):
    CSS_PATH = "wrapup.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _wrapup_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _wrapup_bindings()

    def __init__(self, context: WrapUpContext, *, contact: ClaimedContact,
                 script_path: tuple[str, ...], started: datetime,
                 variables: dict[str, str] | None = None) -> None:
        super().__init__()
        self.context = context
        self.contact = contact
        self.script_path = script_path
        self.started = started
        self.variables = variables or {}
        self.disposition: outcomes.DispositionSpec | None = None

    def _text(self, template: str) -> Text:
        """A script label with its variables (client data, untrusted) filled in, inert."""
        return literal(scripts.render_text(template, self.variables))

    def compose(self) -> ComposeResult:
        with Vertical(id="wrapup-box"):
            yield Static(_("Wrap-up: choose the outcome (Enter)"), id="wrapup-title")
            with Horizontal(id="wrapup-body"):
                yield OptionList(*[Option(d.label, id=d.key) for d in self.context.dispositions],
                                 id="dispositions")
                with VerticalScroll(id="wrapup-fields"):
                    yield Static(_("Move in the list with the arrows and press Enter on "
                                   "the outcome."), classes="hint")
            yield Label(_("Notes"))
            yield TextArea(id="notes", soft_wrap=True)
            with Horizontal(id="wrapup-actions"):
                yield Button(_("Save outcome"), id="save", variant="primary")
                yield Static("", id="wrapup-error", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dispositions", OptionList).focus()

    # Only an explicit choice (Enter, click) sets the outcome: the list's first line is
    # highlighted from the start, and a highlight is not a decision.
    @on(OptionList.OptionSelected, "#dispositions")
    async def _disposition_chosen(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id
        spec = next((d for d in self.context.dispositions if d.key == key), None)
        if spec is None or spec == self.disposition:
            return
        self.disposition = spec
        self._error("")
        self.query_one("#wrapup-title", Static).update(
            _("Wrap-up: {outcome}").format(outcome=spec.label))
        fields = self.query_one("#wrapup-fields", VerticalScroll)
        await fields.remove_children()
        await fields.mount_all(list(self._fields_for(spec)))
        # Straight on to the first field this outcome needs (else the notes).
        first = next((w for w in fields.query("*") if w.focusable), None)
        (first or self.query_one("#notes", TextArea)).focus()

    def _fields_for(self, spec: outcomes.DispositionSpec) -> list[Any]:
        widgets: list[Any] = []
        script = self.context.script
        if "appointment" in spec.needs:
            zone = (script.calendar.timezone if script and script.calendar
                    else self.context.callee_time_zone)
            widgets.append(Label(_("Appointment slot ({zone})").format(zone=zone)))
            options = [(slot_label(s, zone), s.isoformat()) for s in self.context.free_slots]
            widgets.append(Select(options, id="appointment", prompt=_("choose a free slot")))
            if not options:
                widgets.append(Static(_("No free slot in the calendar."), classes="error"))
        if "callback" in spec.needs:
            widgets.append(Label(_("Callback time, callee's local time ({zone}), "
                                   "DD/MM/YYYY HH:MM").format(zone=self.context.callee_time_zone)))
            widgets.append(Input(id="callback", max_length=16,
                                 placeholder=_("DD/MM/YYYY HH:MM")))
            widgets.append(Checkbox(_("Personal callback (I call back myself)"), value=True,
                                    id="callback-personal"))
        if "survey" in spec.needs and script is not None:
            for q in script.survey:
                widgets.append(Label(self._text(q.label)))
                qid = f"survey-{q.key}"
                if q.kind == "single":
                    widgets.append(Select([(self._text(o.label), o.key) for o in q.options],
                                          id=qid))
                elif q.kind == "multiple":
                    widgets.append(SelectionList[str](
                        *[(self._text(o.label), o.key) for o in q.options], id=qid))
                elif q.kind == "scale":
                    # A scale may start at 0 ("would you recommend…, 0 to 10").
                    low = 1 if q.min is None else q.min
                    high = 5 if q.max is None else q.max
                    widgets.append(Select([(str(n), n) for n in range(low, high + 1)],
                                          id=qid))
                else:
                    widgets.append(Input(id=qid, max_length=2000))
        if "verification" in spec.needs and script is not None:
            for f in script.verification:
                widgets.append(Label(self._text(f.label)))
                widgets.append(Input(value=self._original(f.key), id=f"verify-{f.key}",
                                     max_length=500))
        if not widgets:
            widgets.append(Static(_("No other field for this outcome."), classes="hint"))
        return widgets

    def _original(self, key: str) -> str:
        direct = {"first_name": self.contact.first_name, "last_name": self.contact.last_name,
                  "company": self.contact.company}
        if key in direct:
            return direct[key]
        return dict(self.contact.custom_fields).get(key, "")

    def _collect(self) -> outcomes.OutcomeInput | None:
        spec = self.disposition
        if spec is None:
            self._error(_("Choose an outcome first."))
            return None
        appointment: datetime | None = None
        callback: datetime | None = None
        personal = True
        survey: dict[str, object] = {}
        corrections: dict[str, str] = {}
        if "appointment" in spec.needs:
            value = self.query_one("#appointment", Select).value
            appointment = datetime.fromisoformat(value) if isinstance(value, str) else None
        if "callback" in spec.needs:
            raw = self.query_one("#callback", Input).value.strip()
            try:
                callback = datetime.strptime(raw, CALLBACK_FORMAT) if raw else None
            except ValueError:
                self._error(_("Callback time: write it as DD/MM/YYYY HH:MM."))
                return None
            personal = self.query_one("#callback-personal", Checkbox).value
        script = self.context.script
        if "survey" in spec.needs and script is not None:
            for q in script.survey:
                widget = self.query_one(f"#survey-{q.key}")
                if isinstance(widget, Select):
                    if widget.value is not Select.BLANK:
                        survey[q.key] = widget.value
                elif isinstance(widget, SelectionList):
                    survey[q.key] = list(widget.selected)
                elif isinstance(widget, Input) and widget.value.strip():
                    survey[q.key] = widget.value.strip()
        if "verification" in spec.needs and script is not None:
            for f in script.verification:
                value = self.query_one(f"#verify-{f.key}", Input).value
                if value != self._original(f.key):
                    corrections[f.key] = value
        return outcomes.OutcomeInput(
            disposition=spec.key, notes=self.query_one("#notes", TextArea).text,
            script_path=self.script_path,
            wrapup_seconds=(utcnow() - self.started).total_seconds(),
            appointment_start=appointment, callback_local=callback, callback_personal=personal,
            survey_answers=survey, corrections=corrections)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        data = self._collect()
        if data is not None:
            self._error("")
            self.query_one("#save", Button).disabled = True
            self.save(data)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wrapup")
    def save(self, data: outcomes.OutcomeInput) -> None:
        outcome_id = self.app.workstation.record_outcome(data)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.dismiss, outcome_id)

    def on_service_failed(self, message: ServiceFailed) -> None:
        self.query_one("#save", Button).disabled = False
        self._error(message.message)

    def _error(self, text: str) -> None:
        self.query_one("#wrapup-error", Static).update(literal(text))
