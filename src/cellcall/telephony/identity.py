"""The caller number a campaign presents, and the French telemarketing ranges.

Since 1 January 2023 the French regulator (ARCEP, décision 2022-1583) requires consumer
prospecting calls from call centres to present a number from ranges reserved for them, so
that people can recognise (and filter) such calls. A configuration that would present any
other number on such a campaign is refused when the station starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from cellcall.db import read_session
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.campaigns import Audience, Campaign, CampaignStatus, CampaignType
from cellcall.telephony.config import TelephonyConfig

# National significant numbers (without the trunk 0) of the reserved ranges, by the country
# code they are dialled with: mainland 01 62, 01 63, 02 70, ... and 09 475 (Guadeloupe,
# Saint-Martin, Saint-Barthélemy), 09 477 (Martinique).
TELEMARKETING_PREFIXES: dict[int, tuple[str, ...]] = {
    33: ("162", "163", "270", "271", "377", "378", "424", "425", "568", "569", "948", "949",
         "9475", "9477"),
    590: ("9475",),
    596: ("9477",),
}
# France and the overseas departments and communities that share its numbering plan rules.
FRENCH_REGIONS = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})
# Consumer calls of these kinds are prospecting in the regulator's sense.
PROSPECTING_TYPES = frozenset({CampaignType.PROSPECTING, CampaignType.APPOINTMENT,
                               CampaignType.LOYALTY})


@dataclass(frozen=True)
class CampaignCalling:
    """What the rule needs to know about a campaign."""

    slug: str
    type: str
    audience: str
    country: str


def needs_telemarketing_number(campaign: CampaignCalling) -> bool:
    """Consumer prospecting, appointment or loyalty calls to France."""
    return (campaign.audience == Audience.CONSUMER and campaign.type in PROSPECTING_TYPES
            and campaign.country.upper() in FRENCH_REGIONS)


def parse_caller_number(number: str) -> phonenumbers.PhoneNumber | None:
    """A valid E.164 caller number, or None."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def is_telemarketing_number(number: str) -> bool:
    """True when ``number`` (E.164) lies in a range reserved for telemarketing."""
    parsed = parse_caller_number(number)
    if parsed is None:
        return False
    national = phonenumbers.national_significant_number(parsed)
    prefixes = TELEMARKETING_PREFIXES.get(int(parsed.country_code or 0), ())
    return any(national.startswith(prefix) for prefix in prefixes)


def check_caller_identity(*, config: TelephonyConfig,
                          campaigns: Iterable[CampaignCalling]) -> None:
    """Refuse (ValidationError, one clear sentence) a caller number that is not a valid
    E.164 number, and any campaign that must present a telemarketing number but would
    not."""
    numbers = dict(config.caller_ids)
    if config.default_caller_id:
        numbers[""] = config.default_caller_id
    for slug, number in sorted(numbers.items()):
        if parse_caller_number(number) is None:
            raise ValidationError(_(
                "Configuration: [telephony] caller number {number} for {what} is not a valid "
                "international number (+country code and number)").format(
                    number=number, what=slug or "default_caller_id"))
    for campaign in campaigns:
        if not needs_telemarketing_number(campaign):
            continue
        number = config.caller_id_for(campaign.slug)
        if not number:
            raise ValidationError(_(
                "Campaign {slug} calls consumers in France: set its caller number in "
                "[telephony] caller_ids to a number from the telemarketing ranges (01 62, "
                "01 63, 02 70, 02 71, 03 77, 03 78, 04 24, 04 25, 05 68, 05 69, 09 48, "
                "09 49, 09 475, 09 477)").format(slug=campaign.slug))
        if not is_telemarketing_number(number):
            raise ValidationError(_(
                "Campaign {slug} calls consumers in France but its caller number {number} is "
                "not in the telemarketing ranges the regulator reserved (01 62, 01 63, "
                "02 70, 02 71, 03 77, 03 78, 04 24, 04 25, 05 68, 05 69, 09 48, 09 49, "
                "09 475, 09 477)").format(slug=campaign.slug, number=number))


def campaigns_to_check(engine: Engine) -> list[CampaignCalling]:
    """Campaigns that can still be dialled (active or paused)."""
    with read_session(engine) as session:
        rows = session.exec(select(Campaign).where(
            col(Campaign.status) != CampaignStatus.CLOSED)).all()
        return [CampaignCalling(c.slug, c.type, c.audience, c.country) for c in rows]
