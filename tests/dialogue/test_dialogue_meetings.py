from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sdr_agent.dialogue.meetings import describe_slot, find_slot, resolve_when, valid_timezone

NOW = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)  # Thursday, 10:00 in New York


@pytest.mark.parametrize(
    ("said", "zone", "expected"),
    [
        ("Tuesday at 3 pm", "America/New_York", "2026-03-10T15:00:00-04:00"),
        ("tomorrow at half past ten", "America/New_York", "2026-03-06T10:30:00-05:00"),
        ("March 12th at 9 a.m.", "America/Los_Angeles", "2026-03-12T09:00:00-07:00"),
        ("the 2nd of April at 11", "Europe/London", "2026-04-02T11:00:00+01:00"),
        ("noon on Wednesday", "UTC", "2026-03-11T12:00:00+00:00"),
        ("next friday at four in the afternoon", "UTC", "2026-03-06T16:00:00+00:00"),
        ("at 3:30", "America/New_York", "2026-03-05T15:30:00-05:00"),
        ("2026-03-10T15:00", "America/Chicago", "2026-03-10T15:00:00-05:00"),
        ("2026-03-10T15:00:00+00:00", "America/New_York", "2026-03-10T11:00:00-04:00"),
    ],
)
def test_resolve_when(said: str, zone: str, expected: str) -> None:
    resolved = resolve_when(said, NOW, zone)
    assert resolved is not None and resolved.isoformat() == expected


@pytest.mark.parametrize("said", ["next week", "Monday", "sometime soon", "2026-03-10", "the morning"])
def test_vague_slots_do_not_resolve(said: str) -> None:
    assert resolve_when(said, NOW, "UTC") is None


def test_find_slot_keeps_the_callers_wording_and_zone() -> None:
    slot = find_slot("Could we do March 10th at 2pm Eastern?")
    assert slot is not None and slot.complete
    assert slot.text == "March 10th at 2pm Eastern"
    assert slot.timezone == "America/New_York"
    assert find_slot("we have 50 reps and 20% growth") is None
    partial = find_slot("Thursday works")
    assert partial is not None and not partial.complete


def test_timezones_and_description() -> None:
    assert valid_timezone("pacific") == "America/Los_Angeles"
    assert valid_timezone("Europe/Paris") == "Europe/Paris"
    assert valid_timezone("Mars/Olympus") is None
    assert describe_slot(datetime(2026, 3, 10, 15, 30, tzinfo=UTC)) == "Tuesday, March 10 at 3:30 pm"
