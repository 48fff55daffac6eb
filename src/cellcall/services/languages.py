"""Language codes (ISO 639-1) for operators, contacts and campaigns."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from cellcall.errors import ValidationError
from cellcall.i18n import _


def normalize_language(code: str) -> str | None:
    """``'FR'`` → ``'fr'``, ``'fr_BE'`` → ``'fr'``; None when it is not a language."""
    code = code.strip().replace("-", "_")
    if not code:
        return None
    try:
        locale = Locale.parse(code)
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return str(locale.language)


def parse_languages(text: str) -> tuple[str, ...]:
    """A comma-separated list of language codes, validated and without repeats."""
    result: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        lang = normalize_language(part)
        if lang is None:
            raise ValidationError(_("Unknown language code '{code}'.").format(code=part.strip()))
        if lang not in result:
            result.append(lang)
    if not result:
        raise ValidationError(_("At least one language is needed."))
    return tuple(result)
