"""Caller identity: consumer prospecting calls to France present a telemarketing number."""

from __future__ import annotations

import pytest

from cellcall.errors import ValidationError
from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.identity import (
    CampaignCalling,
    check_caller_identity,
    is_telemarketing_number,
    needs_telemarketing_number,
)

PROSPECTING_FR = CampaignCalling("promo", "prospecting", "consumer", "FR")


@pytest.mark.parametrize("number", [
    "+33162000000", "+33163123456", "+33270123456", "+33271123456", "+33377123456",
    "+33378123456", "+33424123456", "+33425123456", "+33568123456", "+33569123456",
    "+33948123456", "+33949123456", "+590947512345", "+596947712345", "+33947512345",
])
def test_reserved_ranges(number: str) -> None:
    assert is_telemarketing_number(number)


@pytest.mark.parametrize("number", [
    "+33612345678",    # mobile
    "+33145678901",    # Paris, ordinary
    "+33164123456",    # next to 01 62/63, not reserved
    "+33947612345",    # 09 476 is not one of the overseas ranges given
    "+590590123456",   # Guadeloupe fixed line
    "+3216200000",     # Belgium: same digits, another country
    "0162000000",      # not E.164
    "not a number",
])
def test_other_numbers(number: str) -> None:
    assert not is_telemarketing_number(number)


@pytest.mark.parametrize(("campaign", "needed"), [
    (PROSPECTING_FR, True),
    (CampaignCalling("a", "appointment", "consumer", "FR"), True),
    (CampaignCalling("a", "loyalty", "consumer", "MQ"), True),
    (CampaignCalling("a", "prospecting", "business", "FR"), False),
    (CampaignCalling("a", "survey", "consumer", "FR"), False),
    (CampaignCalling("a", "after-sales", "consumer", "FR"), False),
    (CampaignCalling("a", "prospecting", "consumer", "BE"), False),
])
def test_which_campaigns_need_it(campaign: CampaignCalling, needed: bool) -> None:
    assert needs_telemarketing_number(campaign) is needed


def test_a_compliant_configuration_passes() -> None:
    config = TelephonyConfig(caller_ids={"promo": "+33162000000"},
                             default_caller_id="+33145678901")
    check_caller_identity(config=config, campaigns=[
        PROSPECTING_FR, CampaignCalling("survey", "survey", "consumer", "FR")])


def test_default_caller_id_applies_to_unlisted_campaigns() -> None:
    check_caller_identity(config=TelephonyConfig(default_caller_id="+33949000000"),
                          campaigns=[PROSPECTING_FR])
    with pytest.raises(ValidationError, match=r"promo.*not in the telemarketing ranges"):
        check_caller_identity(config=TelephonyConfig(default_caller_id="+33612345678"),
                              campaigns=[PROSPECTING_FR])


def test_an_ordinary_number_on_prospecting_is_refused() -> None:
    config = TelephonyConfig(caller_ids={"promo": "+33612345678"})
    with pytest.raises(ValidationError, match=r"promo.*\+33612345678.*telemarketing"):
        check_caller_identity(config=config, campaigns=[PROSPECTING_FR])


def test_no_number_at_all_on_prospecting_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"promo.*caller_ids"):
        check_caller_identity(config=TelephonyConfig(), campaigns=[PROSPECTING_FR])


def test_an_invalid_number_is_refused_even_when_unused() -> None:
    with pytest.raises(ValidationError, match=r"12345.*not a valid"):
        check_caller_identity(config=TelephonyConfig(caller_ids={"x": "12345"}),
                              campaigns=[])


def test_the_engine_refuses_to_be_built_with_a_bad_identity(engine: object) -> None:
    from sqlalchemy.engine import Engine

    from cellcall.telephony.engine import SipPhone
    from telephony.support import make_site

    assert isinstance(engine, Engine)
    make_site(engine, campaign_type="prospecting")
    config = TelephonyConfig(recordings_dir="/tmp/unused", trunk_pattern="sip:{e164}@h",
                             caller_ids={"enquete": "+33612345678"})
    with pytest.raises(ValidationError, match="enquete"):
        SipPhone(engine=engine, config=config)
