from __future__ import annotations

import pytest
from intent_samples import LABELLED_UTTERANCES

from sdr_agent.dialogue.intents import Intent, IntentClassifier, classify_by_rules
from sdr_agent.engines.fakes import FakeEmbedder


def test_labelled_phone_utterances_are_at_least_90_percent_right() -> None:
    assert len(LABELLED_UTTERANCES) >= 60
    wrong = []
    for text, label, polarity in LABELLED_UTTERANCES:
        result = classify_by_rules(text)
        if result.intent.value != label or (polarity is not None and result.polarity != polarity):
            wrong.append((text, label, polarity, result.intent.value, result.polarity))
    accuracy = 1 - len(wrong) / len(LABELLED_UTTERANCES)
    print(f"\nintent accuracy: {accuracy:.1%} on {len(LABELLED_UTTERANCES)} utterances; misses: {wrong}")
    assert accuracy >= 0.90


def test_every_intent_is_represented_in_the_labelled_list() -> None:
    labels = {label for _, label, _ in LABELLED_UTTERANCES}
    assert labels == {intent.value for intent in Intent}


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("yes please", "yes"),
        ("no thank you", "no"),
        ("nope", "no"),
        ("sure thing", "yes"),
        ("not really", "no"),
    ],
)
def test_confirmations_carry_their_polarity(text: str, polarity: str) -> None:
    result = classify_by_rules(text)
    assert result.intent is Intent.CONFIRM
    assert result.polarity == polarity


@pytest.mark.parametrize("text", ["", "   ", "...", "🙂"])
def test_empty_or_symbol_only_input_is_other_not_a_crash(text: str) -> None:
    assert classify_by_rules(text).intent is Intent.OTHER


def test_embedding_neighbour_decides_only_when_rules_shrug() -> None:
    classifier = IntentClassifier(FakeEmbedder(), min_similarity=0.5)
    # The rules call this OTHER; its words sit next to the ACTION exemplar "send me the pricing by email".
    assert classify_by_rules("the pricing by email send me").intent is Intent.OTHER
    assert classifier.classify("the pricing by email send me").intent is Intent.ACTION
    # A rule hit is never overridden.
    assert classifier.classify("How much does it cost?").intent is Intent.QUESTION


def test_failing_embedder_falls_back_to_rules() -> None:
    class Broken(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("model missing")

    assert IntentClassifier(Broken()).classify("we run about ten reps").intent is Intent.OTHER
