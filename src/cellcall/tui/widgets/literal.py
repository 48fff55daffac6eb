"""Rendering untrusted strings as literal text: never markup, never control sequences."""

from __future__ import annotations

from string import Formatter

from rich.text import Text

from cellcall.i18n import _
from cellcall.untrusted import inert


def literal(value: object, *, style: str = "", keep_newlines: bool = False) -> Text:
    """A ``Text`` whose content is exactly the (sanitised) string: ``[red]`` stays ``[red]``."""
    return Text(inert(value, keep_newlines=keep_newlines), style=style, end="")


def labelled(label: str, value: object, *, label_style: str = "bold") -> Text:
    """``label: value`` with a trusted label and an untrusted value; the punctuation comes
    from the catalogue (French writes ``label : value``)."""
    text = Text(end="")
    for between, field, _spec, _conversion in Formatter().parse(_("{label}: {value}")):
        text.append(between)
        if field == "label":
            text.append(label, style=label_style)
        elif field == "value":
            text.append(inert(value))
    return text
