"""The offline responder speaks the dialogue's brief; the answer finder picks the knowledge sentence."""

from __future__ import annotations

import pytest
from dialogue_support import KB_PASSAGES

from sdr_agent.dialogue.answers import best_sentences, quantities
from sdr_agent.engines.base import (
    ChatMessage,
    ContextPassage,
    LLMRequest,
    ReplyAct,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    TurnBrief,
)
from sdr_agent.engines.local.grounded import GroundedResponder

PAYROLL = [
    ContextPassage(
        "Coverage. Paycove runs payroll in all 50 states and files federal, state and local taxes for you.",
        "doc_cov",
    ),
    ContextPassage(
        "Pricing. Paycove costs $6 per employee per month, with a $40 monthly base fee. "
        "There are no setup fees.",
        "doc_price",
    ),
    ContextPassage("Support. Our support team answers by phone and chat on weekdays.", "doc_support"),
]


async def run(request: LLMRequest) -> tuple[list[str], list[ToolCall]]:
    deltas, calls = [], []
    async for event in GroundedResponder().stream(request):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        elif isinstance(event, ToolCallDelta):
            calls.append(event.call)
    return deltas, calls


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much does it cost?", "The Starter plan costs $49 per user per month."),
        ("what's the price per seat", "The Starter plan costs $49 per user per month."),
        ("Does it connect to HubSpot?", "Acme Dialer integrates with Salesforce and HubSpot out of the box."),
        ("Is our data encrypted?", "All call data is encrypted at rest and in transit."),
        (
            "When can I reach support?",
            "Support is available by chat and phone from 8am to 6pm Eastern on weekdays.",
        ),
        ("Are you SOC 2 compliant?", "Acme is SOC 2 Type II certified and stores data in the EU or the US."),
    ],
)
def test_best_sentences_answers_paraphrased_questions(question: str, expected: str) -> None:
    assert expected in best_sentences(question, KB_PASSAGES)


def test_per_unit_price_wins_over_a_sentence_that_only_shares_the_number() -> None:
    answer = best_sentences("How much would it cost for 50 employees?", PAYROLL)
    assert answer and "$6 per employee per month" in answer[0]
    assert not any("all 50 states" in sentence for sentence in answer)


def test_plural_and_singular_are_one_term_and_extra_words_do_not_hide_the_answer() -> None:
    for question in (
        "What's the price per employee?",
        "so um roughly what would something like that end up costing us per employee, just ballpark",
    ):
        assert "$6 per employee per month" in " ".join(best_sentences(question, PAYROLL))


def test_numbers_are_quantities_with_units() -> None:
    assert quantities("for 50 employees") == {("50", "employe")}
    assert ("50", "state") in quantities("in all 50 states")


def test_nothing_related_means_no_answer() -> None:
    assert best_sentences("Do you speak Klingon?", KB_PASSAGES) == []
    assert best_sentences("anything", []) == []


async def test_grounded_says_the_brief_in_word_groups_and_makes_its_calls() -> None:
    call = ToolCall("c1", "book_meeting", {"when": "Tuesday at 3 pm"})
    brief = TurnBrief(ReplyAct.BOOK, ("Great, I can book that for you.", "One moment."), (call,))
    deltas, calls = await run(LLMRequest([ChatMessage("user", "Tuesday at 3 pm works")], brief=brief))
    assert len(deltas) > 1
    assert "".join(deltas) == "Great, I can book that for you. One moment."
    assert calls == [call]


async def test_without_a_brief_it_quotes_the_top_passage_never_its_own_words() -> None:
    deltas, calls = await run(LLMRequest([ChatMessage("user", "price?")], context=PAYROLL[1:2]))
    assert "".join(deltas) == PAYROLL[1].text
    deltas, _ = await run(LLMRequest([ChatMessage("user", "hello")]))
    assert "follow up" in "".join(deltas) and calls == []


def test_the_sentence_that_answers_leads_even_when_a_sibling_comes_first_in_the_document() -> None:
    plans = [
        ContextPassage(
            text=(
                "## Plans and pricing\n"
                "The Basic tier costs 12 dollars per seat per month and covers up to 3 seats.\n"
                "The Studio tier costs 39 dollars per seat per month with unlimited seats "
                "and every export format.\n"
            ),
            source_id="plans",
            score=0.8,
        )
    ]
    answer = best_sentences("How much does the Studio tier cost?", plans)
    assert answer and answer[0].startswith("The Studio tier costs 39 dollars")
