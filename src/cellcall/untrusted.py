"""Making untrusted text (client files, notes) safe to put on a terminal.

Client spreadsheets and operators' notes may hold terminal control sequences (``ESC [2J``
clears a screen, ``OSC 52`` writes the clipboard) or bidirectional overrides that make text
read differently from what it is. Every such character is replaced by a visible
placeholder, so nothing reaches the terminal as a command. Rich/Textual markup is a second
danger, handled where text is rendered: the TUI always builds ``rich.text.Text`` objects
from these strings, never markup.
"""

from __future__ import annotations

import unicodedata

PLACEHOLDER = "\ufffd"
# Bidirectional embeddings, overrides and isolates ("trojan source").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_unsafe(char: str) -> bool:
    if char in _BIDI_CONTROLS:
        return True
    category = unicodedata.category(char)
    return category == "Cc" or category in ("Zl", "Zp")


def inert(text: object, *, keep_newlines: bool = False, max_length: int = 10_000) -> str:
    """``text`` with every control character replaced, tabs as spaces, and length-capped."""
    value = "" if text is None else str(text)
    if len(value) > max_length:
        value = value[:max_length] + "…"
    out: list[str] = []
    for char in value:
        if char == "\t":
            out.append(" ")
        elif char == "\n" and keep_newlines:
            out.append(char)
        elif char == "\r" and keep_newlines:
            continue
        elif _is_unsafe(char):
            out.append(PLACEHOLDER)
        else:
            out.append(char)
    return "".join(out)
