"""The command-line parser's usage errors, in the admin's language.

typer words its usage errors ("Missing argument 'login'.") in English and without
gettext. Each known wording is matched here and rebuilt from a msgid that repeats it, so
an English admin reads exactly typer's text and a French admin reads the catalogue's.
A wording not listed passes through unchanged: an untranslated line beats a lost one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cellcall.i18n import _


def _tail(rest: str, wording: str, say_again: Callable[[re.Match[str]], str]) -> str:
    """What typer appends after the message ("Choose from: a, b"), said again when its
    ``wording`` is known, kept as it is otherwise."""
    found = re.fullmatch(r"\s*" + wording, rest)
    return rest if found is None else " " + say_again(found)


def _choose_from(rest: str) -> str:
    return _tail(rest, r"Choose from:\s*(?P<choices>.+)",
                 lambda m: _("Choose from: {choices}").format(choices=m["choices"]))


def _possible_options(rest: str) -> str:
    return _tail(rest, r"\(Possible options: (?P<options>.+)\)",
                 lambda m: _("(Possible options: {options})").format(options=m["options"]))


# (typer's wording, how to say it again). Most specific first.
_WORDINGS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"Missing argument (?P<name>.+)\."),
     lambda m: _("Missing argument {name}.").format(name=m["name"])),
    (re.compile(r"Missing option (?P<name>'[^']*')\.(?P<rest>.*)"),
     lambda m: _("Missing option {name}.").format(name=m["name"]) + _choose_from(m["rest"])),
    (re.compile(r"Invalid value for (?P<name>'[^']*'): (?:Value error, )?"
                r"(?P<value>'.*') is not one of (?P<choices>.+)\."),
     lambda m: _("Invalid value for {name}: {value} is not one of {choices}.").format(
         name=m["name"], value=m["value"], choices=m["choices"])),
    (re.compile(r"Invalid value for (?P<name>'[^']*'): (?:Value error, )?(?P<reason>.*)"),
     lambda m: _("Invalid value for {name}: {reason}").format(
         name=m["name"], reason=m["reason"])),
    (re.compile(r"No such command (?P<name>.+)\."),
     lambda m: _("No such command {name}.").format(name=m["name"])),
    (re.compile(r"No such option: (?P<name>\S+)(?P<rest>.*)"),
     lambda m: _("No such option: {name}").format(name=m["name"])
     + _possible_options(m["rest"])),
    (re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)"),
     lambda m: _("Got unexpected extra argument(s) ({args})").format(args=m["args"])),
    (re.compile(r"Option (?P<name>'[^']*') requires an argument\."),
     lambda m: _("Option {name} requires an argument.").format(name=m["name"])),
)


def translate_usage_error(message: str) -> str:
    """``message`` (one line from typer) in the current language when its wording is known."""
    for pattern, say_again in _WORDINGS:
        found = pattern.fullmatch(message)
        if found is not None:
            return say_again(found)
    return message
