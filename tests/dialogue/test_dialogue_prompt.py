from __future__ import annotations

from dialogue_support import KeywordRetriever, make_dialogue, say

from sdr_agent.dialogue.prompt import HistoryTurn, PromptParts, approx_tokens, assemble_prompt
from sdr_agent.engines.base import ContextPassage
from sdr_agent.engines.fakes import FakeLLM


async def test_history_keeps_only_what_the_caller_heard() -> None:
    llm = FakeLLM(
        [
            "Our Starter plan is forty nine dollars. The Pro plan adds recording and costs more.",
            "Sure.",
        ]
    )
    dialogue = make_dialogue(llm)
    await say(dialogue, "How much does it cost?", heard="Our Starter plan is forty", interrupted=True)
    await say(dialogue, "Wait, what about recording?")
    second = llm.requests[1].messages
    assistant = [m.content for m in second if m.role == "assistant"]
    assert assistant == ["Our Starter plan is forty"]
    assert "Pro plan" not in " ".join(m.content for m in second if m.role != "system")
    assert [m.role for m in second[1:]] == ["user", "assistant", "user"]
    assert dialogue.history[1] == HistoryTurn("assistant", "Our Starter plan is forty", True)


async def test_system_prompt_carries_phase_and_context_with_source_ids() -> None:
    llm = FakeLLM(["Yes."])
    retriever = KeywordRetriever()
    dialogue = make_dialogue(llm, retriever=retriever)
    await say(dialogue, "Does it integrate with Salesforce?")
    system = llm.requests[0].messages[0].content
    assert "Current call phase: DISCOVERY" in system
    assert "[source: doc_integrations] Acme Dialer integrates with Salesforce" in system
    assert retriever.calls[0][1] == ("doc_pricing", "doc_integrations", "doc_security", "doc_support")
    assert llm.requests[0].context[0].source_id == "doc_integrations"


async def test_no_retrieval_for_greetings_or_agents_without_documents() -> None:
    retriever = KeywordRetriever()
    dialogue = make_dialogue(FakeLLM(["Hi."]), retriever=retriever)
    await say(dialogue, "Hello?")
    assert retriever.calls == []


def test_window_cap_drops_oldest_turns_first() -> None:
    history = [
        HistoryTurn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "word " * 40) for i in range(20)
    ]
    parts = PromptParts(
        system_prompt="You are Alex.",
        agent_name="Alex",
        phase="ACTIVE",
        user_text="latest question",
        history=history,
        window_tokens=600,
        reserve_tokens=100,
    )
    prompt = assemble_prompt(parts)
    kept = [m.content for m in prompt.messages[1:-1]]
    assert prompt.dropped_turns > 0
    assert kept == [turn.text for turn in history[-len(kept) :]]  # the newest survive, in order
    assert prompt.messages[-1].content == "latest question"
    assert sum(approx_tokens(m.content) for m in prompt.messages) <= 500


def test_window_cap_drops_weakest_passages_when_turns_are_not_enough() -> None:
    passages = [ContextPassage("fact " * 150, f"doc_{i}") for i in range(3)]
    parts = PromptParts(
        system_prompt="You are Alex.",
        agent_name="Alex",
        phase="ACTIVE",
        user_text="q",
        context=passages,
        window_tokens=700,
        reserve_tokens=100,
    )
    prompt = assemble_prompt(parts)
    assert [p.source_id for p in prompt.context] == ["doc_0", "doc_1"]
    assert prompt.dropped_passages == 1
