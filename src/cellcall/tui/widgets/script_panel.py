"""The call script, moved through with the keyboard: digits pick a choice."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from cellcall.i18n import _
from cellcall.services import scripts
from cellcall.tui.widgets.literal import literal


def render_step(walker: scripts.ScriptWalker, variables: dict[str, str]) -> RenderableType:
    node = walker.current
    # The template is trusted (the site's script file) but the variables are not (client
    # data): substitute first, then show the result as literal text.
    body = scripts.render_text(node.text, variables)
    parts: list[RenderableType] = [literal(body, keep_newlines=True), Text("")]
    for index, choice in enumerate(node.choices, start=1):
        parts.append(Text.assemble((f" {index} ", "reverse bold"), " ", literal(choice.label)))
    if walker.in_objection:
        parts.append(Text(_("Backspace: back to the script"), style="dim"))
    return Group(*parts)


class ScriptPanel(VerticalScroll):
    """A scrollable panel with the current script node and its numbered choices."""

    DEFAULT_CSS = """
    ScriptPanel { border: round $primary; padding: 0 1; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="script-body")

    def show(self, walker: scripts.ScriptWalker | None, variables: dict[str, str]) -> None:
        body = self.query_one("#script-body", Static)
        if walker is None:
            body.update(Text(_("No script for this campaign."), style="dim"))
            return
        self.border_title = literal(walker.script.title)
        body.update(render_step(walker, variables))
        self.scroll_home(animate=False)
