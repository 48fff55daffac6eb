"""gettext for every user-facing string: French first, English too.

Catalogues live in ``cellcall/locale/<lang>/LC_MESSAGES/cellcall.mo``; ``scripts/i18n``
extracts and compiles them. The process language comes from ``CELLCALL_LANG`` (then
``LANG``); the TUI switches to each user's own UI language at login.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "cellcall"
LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("fr", "en")
DEFAULT_LANGUAGE = "fr"

_current: gettext.NullTranslations = gettext.NullTranslations()
_current_language = "en"


def translations_for(language: str) -> gettext.NullTranslations:
    """The catalogue for ``language``; English (the msgids) when there is none."""
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def set_language(language: str) -> None:
    """Switch the process's language (one TUI process serves one user at a time)."""
    global _current, _current_language
    lang = language if language in SUPPORTED else DEFAULT_LANGUAGE
    _current = translations_for(lang)
    _current_language = lang


def current_language() -> str:
    return _current_language


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return _current.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` that the current language uses for ``n``."""
    return _current.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` as meant in ``context``: one English word ("new") may need
    several French ones (a new operator, an unread note)."""
    return _current.pgettext(context, message)


def _language_from_environment() -> str:
    for var in ("CELLCALL_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            if code in SUPPORTED:
                return code
            if code in ("c", "posix"):
                continue
    return DEFAULT_LANGUAGE


set_language(_language_from_environment())
