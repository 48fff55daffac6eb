"""Rendering untrusted strings as literal text: never markup, never control sequences."""

from __future__ import annotations

from rich.text import Text

from cellcall.untrusted import inert


def literal(value: object, *, style: str = "", keep_newlines: bool = False) -> Text:
    """A ``Text`` whose content is exactly the (sanitised) string: ``[red]`` stays ``[red]``."""
    return Text(inert(value, keep_newlines=keep_newlines), style=style, end="")


def labelled(label: str, value: object, *, label_style: str = "bold") -> Text:
    """``label: value`` with a trusted label and an untrusted value."""
    text = Text(end="")
    text.append(label, style=label_style)
    text.append(": ")
    text.append(inert(value))
    return text
