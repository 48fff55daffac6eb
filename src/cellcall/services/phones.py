"""Phone numbers: parsing to E.164 with candidate time zones, and masking for operators.

phonenumbers does the work. Parsing costs ~30-50 µs a number; imports of a million rows
therefore parse in worker processes (see ``imports``). ``parse_phone`` asks phonenumbers for
the number's type once and derives validity and time zones from it, instead of calling
``is_valid_number`` and ``time_zones_for_number``, which would each compute the type again
(about 25 % of the cost). The result is the same: a number is valid exactly when its type
is known, and ``time_zones_for_number`` is, by its own code, the geographical look-up for
geographical types and the country-level one otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType, timezone
from phonenumbers.phonenumberutil import is_number_type_geographical

from cellcall.errors import ValidationError
from cellcall.i18n import _

UNKNOWN_TIME_ZONE = "Etc/Unknown"
MASK_CHAR = "•"
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
# How many national digits a mask may show, by length of the national number: the first
# and the last two only when at least 4 digits stay hidden, fewer for short numbers.
_SHOW_ALL_THREE_FROM = 7
_SHOW_FIRST_FROM = 4
# Regions dialled with the same national (0…) numbers as the key region: mainland France
# and its overseas departments and collectivities.
NATIONAL_PLAN_SIBLINGS: dict[str, tuple[str, ...]] = {
    "FR": ("GP", "MQ", "GF", "RE", "YT", "BL", "MF"),
}


@dataclass(frozen=True)
class ParsedNumber:
    """A valid number: E.164, the region it belongs to, its candidate time zones."""

    e164: str
    region: str | None
    time_zones: tuple[str, ...]


class InvalidPhoneNumber(ValidationError):
    """The text is not a valid phone number (the message says why)."""


def _country_level_time_zones(numobj: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    # phonenumbers exposes the country-level look-up only as a private function; this is
    # what time_zones_for_number returns for non-geographical number types.
    zones: tuple[str, ...] = tuple(
        timezone._country_level_time_zones_for_number(numobj))
    return zones


def time_zones_of(numobj: phonenumbers.PhoneNumber,
                  number_type: int | None = None) -> tuple[str, ...]:
    """The number's candidate time zones, without phonenumbers' 'Etc/Unknown' placeholder."""
    ntype = phonenumbers.number_type(numobj) if number_type is None else number_type
    if ntype == PhoneNumberType.UNKNOWN:
        return ()
    if is_number_type_geographical(ntype, numobj.country_code or 0):
        zones = tuple(timezone.time_zones_for_geographical_number(numobj))
    else:
        zones = _country_level_time_zones(numobj)
    return tuple(z for z in zones if z != UNKNOWN_TIME_ZONE)


@lru_cache(maxsize=64)
def _sibling_plans(region: str) -> tuple[tuple[int, re.Pattern[str]], ...]:
    """(country code, pattern of its national numbers) for the regions that share
    ``region``'s national numbering plan, from phonenumbers' metadata."""
    plans: dict[int, re.Pattern[str]] = {}
    for sibling in NATIONAL_PLAN_SIBLINGS.get(region, ()):
        metadata = PhoneMetadata.metadata_for_region(sibling)
        general = metadata.general_desc if metadata else None
        pattern = general.national_number_pattern if general else None
        code = phonenumbers.country_code_for_region(sibling)
        if pattern and code and code not in plans:
            plans[code] = re.compile(pattern)
    return tuple(plans.items())


def _sibling_number(numobj: phonenumbers.PhoneNumber,
                    region: str) -> tuple[phonenumbers.PhoneNumber, int] | None:
    """The same national number in a region of the same national plan, when valid there."""
    national = str(numobj.national_number)
    for code, pattern in _sibling_plans(region):
        if not pattern.fullmatch(national):
            continue  # cheap filter before asking phonenumbers
        candidate = phonenumbers.PhoneNumber(country_code=code,
                                             national_number=numobj.national_number)
        ntype = phonenumbers.number_type(candidate)
        if ntype != PhoneNumberType.UNKNOWN:
            return candidate, ntype
    return None


def _parse_error(exc: phonenumbers.NumberParseException) -> str:
    kind = exc.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return _("unknown country code")
    if kind in (phonenumbers.NumberParseException.TOO_SHORT_NSN,
                phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD):
        return _("phone number too short")
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return _("phone number too long")
    return _("not a phone number")


def _parse(raw: str, default_region: str) -> tuple[phonenumbers.PhoneNumber, int]:
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber(_("missing phone number"))
    try:
        numobj = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(_parse_error(exc)) from None
    ntype = phonenumbers.number_type(numobj)
    if ntype == PhoneNumberType.UNKNOWN:
        # French files write overseas numbers nationally (0590…, 0696…): the French
        # numbering plan spans regions that phonenumbers keeps apart.
        national = text.startswith("0") and not text.startswith("00")
        found = _sibling_number(numobj, default_region) if national else None
        if found is None:
            raise InvalidPhoneNumber(_("invalid phone number"))
        return found
    return numobj, ntype


def parse_phone(raw: str, default_region: str) -> ParsedNumber:
    """Parse ``raw`` (any common notation) with ``default_region`` for national numbers.

    Raises InvalidPhoneNumber with a reason fit for a rejects file.
    """
    numobj, ntype = _parse(raw, default_region)
    return ParsedNumber(
        e164=phonenumbers.format_number(numobj, PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(numobj),
        time_zones=time_zones_of(numobj, ntype))


def parse_e164(raw: str, default_region: str) -> tuple[str, tuple[str, ...]]:
    """The bulk-import form of ``parse_phone``: (E.164, time zones), without the region."""
    numobj, ntype = _parse(raw, default_region)
    return (phonenumbers.format_number(numobj, PhoneNumberFormat.E164),
            time_zones_of(numobj, ntype))


def try_parse_phone(raw: str, default_region: str) -> ParsedNumber | str:
    """Like ``parse_phone`` but returns the reason (a string) instead of raising."""
    try:
        return parse_phone(raw, default_region)
    except InvalidPhoneNumber as exc:
        return str(exc)


def _shown_national_positions(national_length: int) -> set[int]:
    if national_length >= _SHOW_ALL_THREE_FROM:
        return {0, national_length - 2, national_length - 1}
    if national_length >= _SHOW_FIRST_FROM:
        return {0}
    return set()


def mask(e164: str) -> str:
    """The number as an operator may see it, e.g. ``'+33 6 •• •• •• 78'``.

    Shown: the country code, the first national digit and the last two; everything else is
    replaced by '•'. Short national numbers show less (never more than half their digits).
    Anything that is not a parsable number is masked entirely.
    """
    try:
        numobj = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return MASK_CHAR * max(4, sum(c.isdigit() for c in e164))
    formatted = phonenumbers.format_number(numobj, PhoneNumberFormat.INTERNATIONAL)
    cc_length = len(str(numobj.country_code))
    digits_total = sum(c.isdigit() for c in formatted)
    national_length = digits_total - cc_length
    shown = _shown_national_positions(national_length)
    out: list[str] = []
    index = 0  # index among all digits of the formatted number
    for char in formatted:
        if not char.isdigit():
            # Extensions and letters never appear in E.164; keep only layout characters.
            out.append(char if char in " +-()" else MASK_CHAR)
            continue
        national_index = index - cc_length
        out.append(char if national_index < 0 or national_index in shown else MASK_CHAR)
        index += 1
    return "".join(out)


def is_e164(text: str) -> bool:
    """True when ``text`` is exactly a '+' and 2 to 15 digits (our stored form)."""
    return bool(E164_RE.match(text))
