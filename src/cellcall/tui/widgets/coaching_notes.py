"""Coaching notes as text: the operator reads their own, the supervisor sees what was read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.text import Text

from cellcall.i18n import _, pgettext
from cellcall.tui.widgets.literal import literal

if TYPE_CHECKING:
    from cellcall.services.training import CoachingNoteView


def render_coaching_notes(notes: list[CoachingNoteView], zone: ZoneInfo, *,
                          reader: Literal["operator", "supervisor"]) -> RenderableType:
    """Newest first as given; the operator sees "new" on an unread note, the supervisor
    whether each note was read. Notes are untrusted text: shown literally."""
    if not notes:
        return Text(_("No coaching note yet."), style="dim")
    parts: list[Text] = []
    for note in notes:
        head = Text(note.created_at.astimezone(zone).strftime("%d/%m/%Y %H:%M  "),
                    style="bold")
        head.append_text(literal(note.supervisor_name))
        if reader == "supervisor":
            head.append("  ")
            head.append(_("read") if note.read else _("not read yet"),
                        style="green" if note.read else "yellow")
        elif not note.read:
            head.append("  ")
            head.append(pgettext("unread coaching note", "new"), style="bold yellow")
        body = literal(note.text, keep_newlines=True)
        body.end = "\n"  # literal texts end without one (for inline use)
        parts.extend([head, body, Text("")])
    return Group(*parts)
