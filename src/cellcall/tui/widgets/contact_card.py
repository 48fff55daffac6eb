"""The contact card: who is being called, never their number in full."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual.widgets import Static

from cellcall.i18n import _
from cellcall.services.queue import ClaimedContact
from cellcall.tui.widgets.literal import labelled, literal


def callee_local_time(contact: ClaimedContact, now: datetime) -> str:
    """The callee's wall-clock time in each of the number's zones."""
    times = []
    for zone in contact.time_zones:
        try:
            times.append(now.astimezone(ZoneInfo(zone)).strftime("%H:%M"))
        except (KeyError, ValueError):
            continue
    return " / ".join(dict.fromkeys(times)) or "?"


def render_contact(contact: ClaimedContact, now: datetime, zone: ZoneInfo) -> RenderableType:
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    parts: list[RenderableType] = [
        literal(name or _("(no name)"), style="bold"),
    ]
    if contact.company:
        parts.append(literal(contact.company, style="italic"))
    parts.append(Text(_("Number: {masked}").format(masked=contact.masked_number)))
    parts.append(Text(_("Local time: {time}").format(time=callee_local_time(contact, now))))
    parts.append(labelled(_("Language"), contact.language))
    parts.append(labelled(_("Campaign"), contact.campaign_name))
    parts.append(labelled(_("Client"), contact.client_name))
    if contact.callback_id is not None:
        parts.append(Text(_("Callback agreed with this person"), style="bold yellow"))
    for key, value in contact.custom_fields:
        parts.append(labelled(key, value, label_style="dim"))
    if contact.history:
        # One line per attempt, its notes below in full: a table column would cut them
        # in the narrow pane.
        parts.append(Text(_("Earlier attempts"), style="bold underline"))
        for item in contact.history[-5:]:
            # In the site's time zone, whatever the server's own is.
            line = Text(item.at.astimezone(zone).strftime("%d/%m %H:%M  "), style="dim")
            line.append_text(literal(item.disposition or "-"))
            parts.append(line)
            if item.notes:
                parts.append(Padding(literal(item.notes, keep_newlines=True, style="italic"),
                                     (0, 0, 0, 2)))
    # ``literal`` texts end without a newline (for inline use): one line each here.
    for part in parts:
        if isinstance(part, Text):
            part.end = "\n"
    return Group(*parts)


class ContactCard(Static):
    """Shows a ``ClaimedContact`` (a plain dataclass, never an ORM row)."""

    DEFAULT_CSS = """
    ContactCard { height: auto; padding: 0 1; }
    """

    def show(self, contact: ClaimedContact | None, now: datetime, zone: ZoneInfo) -> None:
        if contact is None:
            self.update("")
        else:
            self.update(render_contact(contact, now, zone))
