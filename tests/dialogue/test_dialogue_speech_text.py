from __future__ import annotations

import pytest

from sdr_agent.dialogue.speech_text import SpeechTextStream, clean_for_speech


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("Plans start at $49/user/month.", "Plans start at 49 dollars per user per month."),
        ("It's **$1,200** a year.", "It's 1,200 dollars a year."),
        ("Only $49.99/mo", "Only 49 dollars and 99 cents per month"),
        ("We raised $2.5M.", "We raised 2.5 million dollars."),
        ("Call at 3pm or 10:30 A.M. tomorrow", "Call at 3 pm or 10:30 am tomorrow"),
        ("Open 9am-5pm ET", "Open 9 am to 5 pm ET"),
        ("Save 15% with annual billing", "Save 15 percent with annual billing"),
        ("See https://www.acme.com/pricing for more.", "See acme dot com slash pricing for more."),
        ("Visit acme.io/docs/getting-started", "Visit acme dot io slash docs slash getting started"),
        ("Write to sales@acme.com.", "Write to sales at acme dot com."),
        ("[our pricing page](https://acme.com/pricing)", "our pricing page"),
        ("## Plans\n- Starter\n- Pro", "Plans. Starter. Pro."),
        ("Use `Salesforce` & HubSpot", "Use Salesforce and HubSpot"),
        ("Works 24/7, e.g. weekends", "Works 24 7, for example weekends"),
        ("Great!   🎉  Talk   soon", "Great! Talk soon"),
        ("| Plan | Price |\n|---|---|\n| Pro | $99 |", "Plan, Price. Pro, 99 dollars."),
        ("Version 2.0 ships 2026-05-01", "Version 2.0 ships 2026-05-01"),
        ("", ""),
    ],
)
def test_clean_for_speech(raw: str, spoken: str) -> None:
    assert clean_for_speech(raw) == spoken


def test_stream_holds_multiword_constructs_until_the_sentence_ends() -> None:
    stream = SpeechTextStream()
    text = "Sure! Our **Pro** plan is $99/seat/month, see [pricing](https://acme.com/pricing). Want a demo?"
    pieces = [stream.feed(token + " ") for token in text.split(" ")] + [stream.flush()]
    spoken = [piece for piece in pieces if piece]
    assert spoken == [
        "Sure! ",
        "Our Pro plan is 99 dollars per seat per month, see pricing. ",
        "Want a demo? ",
    ]


def test_stream_releases_long_unpunctuated_text_in_word_groups() -> None:
    stream = SpeechTextStream(max_words=5)
    out = [
        stream.feed(word + " ") for word in ["one", "two", "three", "four", "five", "six", "seven", "eight"]
    ]
    assert any(out), "a fragment must come out before the text ends"
    assert " ".join("".join([*out, stream.flush()]).split()) == "one two three four five six seven eight"
