from __future__ import annotations

import pytest

from sdr_agent.dialogue.caller_facts import (
    asks_for_human,
    find_email,
    find_name,
    find_objection,
    looks_like_voicemail,
    proposes_meeting,
)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, this is Dana.", "Dana"),
        ("My name is Priya Patel", "Priya Patel"),
        ("It's Mark speaking", "Mark"),
        ("I'm busy right now", None),
        ("This is not a good time", None),
    ],
)
def test_find_name(text: str, name: str | None) -> None:
    assert find_name(text) == name


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("send it to dana@globex.com please", "dana@globex.com"),
        ("it's john dot smith at acme dot com", "john.smith@acme.com"),
        ("we are at the office", None),
    ],
)
def test_find_email(text: str, email: str | None) -> None:
    assert find_email(text) == email


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I'm not interested", "not_interested"),
        ("We already use Gong", "competitor"),
        ("It sounds too expensive for us", "price"),
        ("I'm driving, call me later", "call_later"),
        ("I'm driving right now", "bad_timing"),
        ("Please call me back tomorrow", "call_later"),
        ("Just send me some info", "send_info"),
        ("I'm not the decision maker", "authority"),
        ("How does it work?", None),
    ],
)
def test_find_objection(text: str, kind: str | None) -> None:
    assert find_objection(text) == kind


def test_human_requests_voicemail_and_meeting_proposals() -> None:
    assert asks_for_human("Can I speak to a real person?")
    assert asks_for_human("Transfer me to a human")
    assert not asks_for_human("Our team has a person for that")
    assert not asks_for_human("Am I talking to a real person?")
    assert looks_like_voicemail("You've reached Dana, please leave a message after the tone")
    assert not looks_like_voicemail("Hello, Dana speaking")
    assert proposes_meeting("Would you be open to a short call next week?")
    assert proposes_meeting("What day and time would work best for you?")
    assert not proposes_meeting("Our Pro plan includes call recording.")
