"""The offline sentiment lexicon: polarity, negation, intensity, contrast, bounds and speed."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdr_agent.analysis.sentiment import score_sentiment


@pytest.mark.parametrize(
    "text",
    [
        "This sounds great, I'm really interested!",
        "Yes, that works for me. Thank you!",
        "I love it, this would save us so much time",
        "Sounds good, let's do it",
    ],
)
def test_positive_turns(text: str) -> None:
    assert score_sentiment(text) > 0.3


@pytest.mark.parametrize(
    "text",
    [
        "This is a waste of time, stop calling me",
        "I'm not interested.",
        "This is ridiculous, I'm so frustrated",
        "Take me off your list",
        "It's way too expensive and honestly useless",
    ],
)
def test_negative_turns(text: str) -> None:
    assert score_sentiment(text) < -0.3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "The meeting is on Tuesday at three",
        "We have about 25 people",
        "Can you tell me about pricing?",
        "it was like fifty people",
    ],
)
def test_neutral_turns_score_zero(text: str) -> None:
    assert score_sentiment(text) == 0.0


def test_negation_flips_polarity() -> None:
    assert score_sentiment("good") > 0 > score_sentiment("not good")
    assert score_sentiment("bad") < 0 < score_sentiment("not bad")
    assert score_sentiment("I don't like it") < 0 < score_sentiment("I like it")
    assert score_sentiment("it isn\u2019t helpful") < 0  # typographic apostrophe from STT


def test_boosters_and_dampeners_scale() -> None:
    assert score_sentiment("very good") > score_sentiment("good") > score_sentiment("kind of good") > 0
    assert score_sentiment("extremely annoying") < score_sentiment("annoying") < 0


def test_the_clause_after_but_dominates() -> None:
    assert score_sentiment("it looks good but it is expensive") < 0
    assert score_sentiment("it is expensive but it looks really good") > 0


def test_exclamation_adds_emphasis() -> None:
    assert score_sentiment("great!!") > score_sentiment("great") > 0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_stays_in_bounds(text: str) -> None:
    value = score_sentiment(text)
    assert -1.0 <= value <= 1.0


def test_fast_enough_for_every_turn() -> None:
    text = "Honestly this sounds pretty good but I'm worried it's too expensive for a team our size, right?"
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        score_sentiment(text)
    assert (time.perf_counter() - started) / rounds < 0.001
