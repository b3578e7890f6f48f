"""Phone numbers: parse anything a lead list holds into E.164, and find the zones a number may ring in."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as number_timezones

# phonenumbers answers this when it cannot tell (e.g. non-geographic or unknown prefixes).
_UNKNOWN_ZONE = "Etc/Unknown"


class InvalidNumberError(ValueError):
    pass


def to_e164(raw: str, default_region: str = "US") -> str:
    """'+1 (415) 555-2671' / '415-555-2671' → '+14155552671'; raises InvalidNumberError with the reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidNumberError("empty phone number")
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumberError(f"{raw!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumberError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def candidate_zones(e164: str) -> list[str]:
    """Every IANA zone the number may be in (several for mobile or non-geographic numbers); [] if unknown."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return []
    zones = number_timezones.time_zones_for_number(parsed)
    return sorted({zone for zone in zones if zone != _UNKNOWN_ZONE})
