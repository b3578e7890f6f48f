"""Guardrails on every sentence a model wants said, whichever model: figures not in the sources, discounts the
KB never offers, claims to be human, repeated sentences, and tool calls written as text."""

from __future__ import annotations

import re

from dialogue_support import make_dialogue, say
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdr_agent.dialogue.guardrails import SaidLog, SpokenGuard, figures
from sdr_agent.dialogue.text_tool_calls import TextToolCallFilter, parse_text_calls
from sdr_agent.engines.fakes import FakeLLM

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
FOLLOW_UP = ("I'll confirm the exact numbers and follow up.",)


def guard(*sources: str) -> SpokenGuard:
    return SpokenGuard(sources, SaidLog(), FOLLOW_UP, "I'm an AI assistant.")


def test_figures_are_values_not_strings() -> None:
    assert figures("$1,200 a year, 15% off, or twenty percent, 99.9% uptime") == {1200, 15, 20, 99.9}
    assert figures("one of our customers") == set()


def test_unsupported_figures_become_a_follow_up_and_supported_ones_pass() -> None:
    g = guard("The Starter plan costs $49 per user per month.", "We have about 50 people.")
    said = g.feed("The Starter plan is $49 per user. For your 50 people that's about $2,450. ") + g.flush()
    assert "$49 per user" in said and "2,450" not in said and FOLLOW_UP[0] in said
    assert [e.rule for e in g.events] == ["unsupported_figure"]


def test_discounts_and_human_claims_are_replaced() -> None:
    g = guard("Pricing is $49 per user.")
    said = g.feed("Sure, I can give you a discount. I'm a real person, not a bot. ") + g.flush()
    assert "discount" not in said and "real person" not in said and "AI assistant" in said
    assert {e.rule for e in g.events} == {"discount", "human_claim"}
    assert "discount" in guard("Annual contracts get a 15% discount.").feed(
        "You'd get a 15% discount annually. "
    )


def test_a_sentence_is_never_said_twice() -> None:
    log = SaidLog(exempt=["Thanks for your time. Goodbye!"])
    first = SpokenGuard((), log, FOLLOW_UP, "AI")
    assert first.feed("How is your team handling this today? Goodbye! ") == (
        "How is your team handling this today? Goodbye! "
    )
    again = SpokenGuard((), log, FOLLOW_UP, "AI")
    # The goodbye is exempt (every call may end with it); the question is not said a second time.
    assert again.feed("How is your team handling this today? Goodbye! ") == "Goodbye! "
    assert log.fresh(["How is your team handling this today?", "Who decides?"]) == "Who decides?"


WORDS = st.sampled_from(
    ["price", "plan", "user", "month", "seats", "discount", "free", "off", "annual", "team"]
)


@st.composite
def figure(draw: st.DrawFn) -> str:
    n = draw(st.integers(min_value=0, max_value=99999))
    return draw(
        st.sampled_from([str(n), f"${n}", f"{n % 100}%", f"{n:,}", f"{n}.{n % 97}", f"{n % 12 + 1}pm"])
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.lists(st.one_of(WORDS, figure()), min_size=1, max_size=12).map(" ".join),
    reply=st.lists(
        st.lists(st.one_of(WORDS, figure()), min_size=2, max_size=10).map(" ".join), min_size=1, max_size=4
    ),
)
def test_nothing_passes_with_a_figure_the_sources_lack(source: str, reply: list[str]) -> None:
    g = guard(source)
    said = g.feed(". ".join(reply) + ". ") + g.flush()
    assert figures(said) <= figures(source) | figures(FOLLOW_UP[0])


async def test_every_llm_goes_through_the_guard_in_a_call() -> None:
    llm = FakeLLM(["Great question! It's only $12 per user, and we'll waive the setup fee for you."])
    turn = await say(make_dialogue(llm), "How much is it?")
    assert "$12" not in turn.text and "12 dollars" not in turn.text and "waive" not in turn.text
    assert "follow up" in turn.text


async def test_a_tool_call_written_as_text_is_run_not_spoken() -> None:
    llm = FakeLLM(['Sure, goodbye! {"name": "end_call", "arguments": {"reason": "caller is done"}}'])
    turn = await say(make_dialogue(llm), "Could you wrap this up?")
    assert "end_call" not in turn.text and "{" not in turn.text and "goodbye" in turn.text.lower()
    assert turn.ends_call
    calls = parse_text_calls(
        '<tool_call>{"name": "book_meeting", "arguments": {"when": "Tue 3pm"}}</tool_call>', ["book_meeting"]
    )
    assert calls[0].arguments == {"when": "Tue 3pm"}
    text_filter = TextToolCallFilter(["end_call"])
    assert text_filter.feed("Bye now. end_call(reason=") == "Bye now. "
    assert text_filter.feed('"done")') == "" and text_filter.finish()[1][0].name == "end_call"
