"""Calling hours across time zones and DST changes (pure: aware datetimes, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from sdr_agent.campaigns.numbers import InvalidNumberError, candidate_zones, to_e164
from sdr_agent.campaigns.window import CallingWindow, WindowError, parse_days, zones_for

NY = zones_for(["America/New_York"])
LA = zones_for(["America/Los_Angeles"])
LONDON = zones_for(["Europe/London"])
DEFAULT = CallingWindow()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_friday_evening_waits_for_monday_nine_across_spring_forward() -> None:
    # Fri 6 Mar 2026 19:50 EST = 00:50 UTC Sat. US clocks spring forward on Sun 8 Mar.
    assert DEFAULT.is_open(utc(2026, 3, 7, 0, 50), NY)
    assert not DEFAULT.is_open(utc(2026, 3, 7, 1, 0), NY)  # 20:00 EST: closed
    # Monday 9 Mar 09:00 is EDT (UTC-4) now: 13:00 UTC, not 14:00.
    assert DEFAULT.next_open(utc(2026, 3, 7, 1, 0), NY) == utc(2026, 3, 9, 13, 0)


def test_fall_back_moves_the_utc_instant_not_the_local_hour() -> None:
    # Fri 30 Oct 2026 20:00 EDT = Sat 00:00 UTC; clocks fall back Sun 1 Nov; Mon 2 Nov 09:00 EST = 14:00 UTC.
    assert DEFAULT.next_open(utc(2026, 10, 31, 0, 0), NY) == utc(2026, 11, 2, 14, 0)
    # London changed a week earlier (25 Oct): Mon 26 Oct 09:00 GMT = 09:00 UTC.
    assert DEFAULT.next_open(utc(2026, 10, 24, 12, 0), LONDON) == utc(2026, 10, 26, 9, 0)


def test_ambiguous_number_gets_the_intersection_of_its_zones() -> None:
    both = zones_for(["America/New_York", "America/Los_Angeles"])
    # 10:00 in New York is 07:00 in Los Angeles: too early there.
    assert not DEFAULT.is_open(utc(2026, 6, 10, 14, 0), both)
    opens = DEFAULT.next_open(utc(2026, 6, 10, 14, 0), both)
    assert opens == utc(2026, 6, 10, 16, 0)  # 09:00 PDT
    assert DEFAULT.closes_at(opens, both) == utc(2026, 6, 11, 0, 0)  # 20:00 EDT, before 20:00 PDT
    assert not DEFAULT.is_open(utc(2026, 6, 11, 0, 30), both)


def test_weekend_and_custom_days() -> None:
    saturday_noon_ny = utc(2026, 6, 13, 16, 0)
    assert not DEFAULT.is_open(saturday_noon_ny, NY)
    weekend = CallingWindow.clamped(time(10, 0), time(16, 0), parse_days(["sat", "sun"]))
    assert weekend.is_open(saturday_noon_ny, NY)
    assert weekend.next_open(utc(2026, 6, 15, 16, 0), NY) == utc(
        2026, 6, 20, 14, 0
    )  # Monday → Saturday 10:00


def test_override_is_clamped_to_eight_to_nine_and_empty_windows_are_refused() -> None:
    wide = CallingWindow.clamped(time(6, 0), time(23, 0), parse_days(["mon"]))
    assert (wide.start, wide.end) == (time(8, 0), time(21, 0))
    with pytest.raises(WindowError):
        CallingWindow.clamped(time(21, 30), time(23, 0), parse_days(["mon"]))
    with pytest.raises(WindowError):
        parse_days(["funday"])


def test_zones_that_never_share_an_open_hour() -> None:
    far = zones_for(["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14 and UTC-11: 25 hours apart
    narrow = CallingWindow.clamped(time(9, 0), time(10, 0), parse_days(["mon"]))
    assert narrow.next_open(utc(2026, 6, 10, 0, 0), far) is None


def test_numbers_parse_to_e164_with_their_zones() -> None:
    assert to_e164("(212) 555-0142") == "+12125550142"
    assert to_e164("+44 20 7946 0958") == "+442079460958"
    assert candidate_zones("+12125550142") == ["America/New_York"]
    assert candidate_zones("+442079460958") == ["Europe/London"]
    assert len(candidate_zones("+18005550100")) > 1  # toll-free: every US zone
    for bad in ("", "12", "+1 555 0100", "call me"):
        with pytest.raises(InvalidNumberError):
            to_e164(bad)
