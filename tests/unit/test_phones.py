"""Phone numbers: E.164 and time zones from phonenumbers, and masks that never leak."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellcall.services.phones import (
    MASK_CHAR,
    InvalidPhoneNumber,
    mask,
    parse_e164,
    parse_phone,
    try_parse_phone,
)


@pytest.mark.parametrize(("raw", "region", "e164", "zones"), [
    ("06 12 34 56 78", "FR", "+33612345678", ("Europe/Paris",)),
    ("06.12.34.56.78", "FR", "+33612345678", ("Europe/Paris",)),
    ("0033 6 12 34 56 78", "FR", "+33612345678", ("Europe/Paris",)),
    ("+33 (0)6 12 34 56 78", "FR", "+33612345678", ("Europe/Paris",)),
    ("06\u00a012\u00a034\u00a056\u00a078", "FR", "+33612345678", ("Europe/Paris",)),
    ("+32 470 12 34 56", "FR", "+32470123456", ("Europe/Brussels",)),
    ("0470 12 34 56", "BE", "+32470123456", ("Europe/Brussels",)),
    ("+590 590 12 34 56", "FR", "+590590123456", ("America/Guadeloupe",)),
    ("+596 696 27 53 86", "FR", "+596696275386", ("America/Martinique",)),
    # French files write overseas numbers in the national plan.
    ("0696 27 53 86", "FR", "+596696275386", ("America/Martinique",)),
    ("0590 12 34 56", "FR", "+590590123456", ("America/Guadeloupe",)),
    ("+1 201 555 0123", "FR", "+12015550123", ("America/New_York",)),
])
def test_parse_gives_e164_and_time_zones(raw: str, region: str, e164: str,
                                         zones: tuple[str, ...]) -> None:
    parsed = parse_phone(raw, region)
    assert parsed.e164 == e164
    assert parsed.time_zones == zones
    assert parse_e164(raw, region) == (e164, zones)


def test_a_russian_mobile_has_several_zones_and_never_the_unknown_placeholder() -> None:
    parsed = parse_phone("+7 912 345 67 89", "FR")
    assert "Europe/Moscow" in parsed.time_zones
    assert len(parsed.time_zones) > 1
    assert "Etc/Unknown" not in parsed.time_zones


def test_a_valid_number_without_zone_data_has_no_placeholder() -> None:
    # Non-geographic numbers (e.g. +800 international freephone) have no zone.
    example = phonenumbers.example_number_for_non_geo_entity(800)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert "Etc/Unknown" not in parse_phone(e164, "FR").time_zones


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "missing phone number"),
    ("   ", "missing phone number"),
    ("n/a", "not a phone number"),
    ("123", "invalid phone number"),
    ("06 12", "invalid phone number"),
    ("0000000000", "invalid phone number"),
    ("+33 1", "phone number too short"),
    ("+999 12 34 56 78", "unknown country code"),
    ("0612345678901234567890", "phone number too long"),
])
def test_invalid_numbers_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason):
        parse_phone(raw, "FR")
    assert try_parse_phone(raw, "FR") == reason


def test_parse_agrees_with_phonenumbers_validity_and_time_zones() -> None:
    """The shortcut (number type once) gives what is_valid_number and
    time_zones_for_number give."""
    from phonenumbers import timezone

    for region in ("FR", "BE", "GP", "MQ", "DE", "US", "RU", "TR", "GB", "CA"):
        for kind in (phonenumbers.PhoneNumberType.MOBILE,
                     phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert phonenumbers.is_valid_number(example)
            expected = tuple(z for z in timezone.time_zones_for_number(example)
                             if z != "Etc/Unknown")
            assert parse_phone(e164, "FR").time_zones == expected


@pytest.mark.parametrize(("e164", "masked"), [
    ("+33612345678", "+33 6 •• •• •• 78"),
    ("+590690123456", "+590 6•• •• •• 56"),
    ("+32470123456", "+32 4•• •• •• 56"),
    ("+12015550123", "+1 2••-•••-••23"),
])
def test_mask_shows_country_code_first_national_digit_and_last_two(e164: str,
                                                                   masked: str) -> None:
    assert mask(e164) == masked


def test_mask_of_garbage_shows_no_digit() -> None:
    assert not any(c.isdigit() for c in mask("not a number 0612345678"))
    assert not any(c.isdigit() for c in mask("+999123"))


def _visible_national_digits(e164: str, masked: str) -> tuple[str, int]:
    numobj = phonenumbers.parse(e164, None)
    cc = str(numobj.country_code)
    digits = [c for c in masked if c.isdigit()]
    assert "".join(digits[:len(cc)]) == cc  # the country code is always shown
    return "".join(digits[len(cc):]), len(cc)


@settings(max_examples=300, deadline=None)
@given(cc=st.sampled_from(["1", "7", "32", "33", "44", "49", "90", "212", "262", "590",
                           "596", "352", "353", "880", "998"]),
       national=st.text(alphabet="0123456789", min_size=1, max_size=14))
def test_mask_never_leaks_more_than_first_and_last_two(cc: str, national: str) -> None:
    e164 = f"+{cc}{national}"[:16]
    masked = mask(e164)
    try:
        numobj = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        assert not any(c.isdigit() for c in masked)
        return
    shown, _cc_len = _visible_national_digits(e164, masked)
    national_digits = str(numobj.national_number)
    if numobj.italian_leading_zero:
        national_digits = "0" * (numobj.number_of_leading_zeros or 1) + national_digits
    # At most three national digits, and at most half of them.
    assert len(shown) <= 3
    assert len(shown) <= len(national_digits) // 2
    # Every position is either shown as itself or masked: same length of digits.
    assert sum(c.isdigit() or c == MASK_CHAR for c in masked) == len(
        str(numobj.country_code)) + len(national_digits)
    # What is shown is the first national digit and the last two, nothing else.
    if len(shown) == 3:
        assert shown == national_digits[0] + national_digits[-2:]
    elif len(shown) == 1:
        assert shown == national_digits[0]
