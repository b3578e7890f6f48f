"""What a fallback LLM may add after a primary failed mid-reply."""

from __future__ import annotations

from sdr_agent.engines.fallback.repeat_filter import RepeatFilter


def feed_all(already: str, pieces: list[str]) -> str:
    repeat = RepeatFilter(already)
    return "".join(repeat.feed(p) for p in pieces)


def test_repeated_opening_is_withheld_and_the_rest_passes() -> None:
    said = "Our pricing starts"
    rest = feed_all(said, ["Our", " pricing", " starts", " at", " $49", " a seat."])
    assert said + rest == "Our pricing starts at $49 a seat."


def test_punctuation_and_case_do_not_matter() -> None:
    assert feed_all("Sure, Tuesday", ["sure", " tuesday!", " works."]) == " works."


def test_a_different_answer_passes_whole() -> None:
    assert feed_all("Our pricing", ["Let", " me", " check."]) == "Let me check."


def test_nothing_said_means_everything_passes() -> None:
    assert feed_all("", ["Hi", " there"]) == "Hi there"


def test_a_fallback_that_only_repeats_adds_nothing() -> None:
    assert feed_all("Thanks for calling today", ["Thanks", " for", " calling"]) == ""
