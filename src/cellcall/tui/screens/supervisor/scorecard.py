"""The scorecard of one call: the campaign's criteria, points and a comment for each.

The form checks what it can before sending (a whole number between 0 and the criterion's
maximum, every criterion scored) and shows the service's refusal otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Label, Static

from cellcall.i18n import _
from cellcall.tui.messages import ServiceFailed
from cellcall.tui.screens.supervisor.base import ConsoleScreen
from cellcall.tui.screens.supervisor.messages import Loaded
from cellcall.tui.widgets.literal import labelled, literal

if TYPE_CHECKING:
    from cellcall.services.quality import Criterion, RecordingRow


def _scorecard_bindings() -> list[BindingType]:
    return [
        Binding("ctrl+s", "save", _("Save"), id="scorecard.save", priority=True),
        Binding("escape", "back", _("Back"), id="scorecard.back"),
    ]


def check_points(criteria: tuple[Criterion, ...],
                 typed: dict[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    """The points as numbers, and an error per criterion that is not a valid score."""
    points: dict[str, int] = {}
    errors: dict[str, str] = {}
    for criterion in criteria:
        text = typed.get(criterion.key, "").strip()
        if not text:
            errors[criterion.key] = _("Score this criterion.")
            continue
        try:
            value = int(text)
        except ValueError:
            errors[criterion.key] = _("A whole number, please.")
            continue
        if not 0 <= value <= criterion.max_points:
            errors[criterion.key] = _("Between 0 and {max}.").format(max=criterion.max_points)
            continue
        points[criterion.key] = value
    return points, errors


class ScorecardScreen(ConsoleScreen):
    """Scores one recorded call; dismisses the ``ScoreView`` once saved."""

    CSS_PATH = "scorecard.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _scorecard_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _scorecard_bindings()

    def __init__(self, call: RecordingRow, campaign_id: int) -> None:
        super().__init__()
        self.call = call
        self.campaign_id = campaign_id
        self.criteria: tuple[Criterion, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="scorecard-box"):
            title = Text(_("Scorecard"), style="bold", end="")
            title.append("  ")
            title.append_text(labelled(_("Operator"), self.call.operator_name))
            title.append("  ")
            title.append_text(labelled(_("Campaign"), self.call.campaign_slug))
            title.append("  ")
            title.append_text(labelled(_("Call"), self.call.attempt_id))
            yield Static(title, id="scorecard-title")
            yield VerticalScroll(id="criteria")
            yield Label(_("Overall comment"))
            yield Input(id="overall-comment", max_length=2000)
            yield Static("", id="scorecard-error", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        self.load_criteria()

    @work(thread=True, exclusive=True, exit_on_error=False, group="scorecard")
    def load_criteria(self) -> None:
        self.post_message(Loaded("criteria", self.desk.scorecard(self.campaign_id)))

    async def on_loaded(self, message: Loaded) -> None:
        if message.what != "criteria":
            return
        self.criteria = tuple(message.data)
        box = self.query_one("#criteria", VerticalScroll)
        rows: list[Widget] = []
        for criterion in self.criteria:
            row = Horizontal(
                Static(literal(criterion.label), classes="criterion-label"),
                Input(placeholder=f"0-{criterion.max_points}", id=f"points-{criterion.key}",
                      classes="criterion-points", max_length=3, type="integer"),
                Input(placeholder=_("comment"), id=f"comment-{criterion.key}",
                      classes="criterion-comment", max_length=500),
                classes="criterion")
            rows.append(row)
            error = Static("", id=f"error-{criterion.key}", classes="criterion-error")
            error.display = False
            rows.append(error)
        await box.mount_all(rows)
        if self.criteria:
            self.query_one(f"#points-{self.criteria[0].key}", Input).focus()

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.focus_next()

    def action_save(self) -> None:
        typed = {c.key: self.query_one(f"#points-{c.key}", Input).value for c in self.criteria}
        points, errors = check_points(self.criteria, typed)
        for criterion in self.criteria:
            line = self.query_one(f"#error-{criterion.key}", Static)
            line.update(Text(errors.get(criterion.key, ""), style="bold red"))
            line.display = criterion.key in errors
        if errors:
            self._error(_("Some criteria need a valid score."))
            return
        self._error("")
        comments = {c.key: value for c in self.criteria
                    if (value := self.query_one(f"#comment-{c.key}", Input).value.strip())}
        comment = self.query_one("#overall-comment", Input).value.strip()
        self.save(points, comments, comment)

    @work(thread=True, exclusive=True, exit_on_error=False, group="scorecard-save")
    def save(self, points: dict[str, int], comments: dict[str, str], comment: str) -> None:
        score = self.desk.score_call(attempt_id=self.call.attempt_id, points=points,
                                     comments=comments, comment=comment)
        self.app.call_from_thread(self._saved, score)

    def _saved(self, score: object) -> None:
        percent = getattr(score, "percent", 0.0)
        self.notify(_("Call scored: {percent:.0f} %.").format(percent=percent))
        self.dismiss(None)

    def on_service_failed(self, message: ServiceFailed) -> None:
        self._error(message.message)

    def _error(self, text: str) -> None:
        self.query_one("#scorecard-error", Static).update(literal(text))

    def action_back(self) -> None:
        self.dismiss(None)
