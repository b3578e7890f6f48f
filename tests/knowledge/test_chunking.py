from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdr_agent.knowledge.chunking import ChunkingOptions, chunk_text, split_sections, split_sentences


def _sentences(count: int, words: int = 12, tag: str = "s") -> str:
    # Capitalised starts, so each is a sentence of its own.
    return " ".join(f"{tag.upper()}{i} " + " ".join(f"w{i}x{j}" for j in range(words - 2)) + " end."
                    for i in range(count))


def test_each_heading_section_is_its_own_chunk_with_its_heading_path() -> None:
    text = ("# Acme\n\n## Pricing\nThe Team plan costs 49 dollars.\n\n"
            "## Trial\n### Length\nThe trial lasts 14 days.\n")
    chunks = chunk_text(text)
    assert [c.text for c in chunks] == ["The Team plan costs 49 dollars.", "The trial lasts 14 days."]
    assert chunks[0].heading_path == ("Acme", "Pricing")
    assert chunks[1].heading_path == ("Acme", "Trial", "Length")
    assert chunks[1].heading == "Acme > Trial > Length"
    assert chunks[1].text_for_embedding.startswith("Acme > Trial > Length\n")
    assert [c.index for c in chunks] == [0, 1]


def test_a_sibling_heading_replaces_the_previous_one() -> None:
    sections = split_sections("# A\n## B\nbody b\n## C\nbody c\n# D\nbody d\n")
    assert [s.heading_path for s in sections] == [("A", "B"), ("A", "C"), ("D",)]


def test_long_section_is_split_into_bounded_chunks_with_overlap() -> None:
    options = ChunkingOptions(target_words=100, max_words=150, overlap_words=25)
    text = "## Long\n" + _sentences(60)  # 720 words
    chunks = chunk_text(text, options)
    assert len(chunks) >= 5
    for chunk in chunks:
        assert chunk.word_count <= options.max_words
        assert chunk.heading_path == ("Long",)
    for before, after in itertools.pairwise(chunks):
        previous, current = split_sentences(before.text), split_sentences(after.text)
        carried = [sentence for sentence in current if sentence in previous]
        assert carried and carried == previous[-len(carried):] == current[:len(carried)], "overlap is a tail"
        assert sum(len(sentence.split()) for sentence in carried) <= options.overlap_words
    every_sentence = set(split_sentences(" ".join(c.text for c in chunks)))
    assert every_sentence == set(split_sentences(_sentences(60)))


def test_a_sentence_longer_than_the_maximum_is_cut_by_words() -> None:
    options = ChunkingOptions(target_words=50, max_words=80, overlap_words=10)
    chunks = chunk_text("word " * 200, options)
    assert [c.word_count for c in chunks] == [80, 80, 40]


def test_text_without_headings_still_chunks() -> None:
    chunks = chunk_text("First fact here. Second fact here.\n\nThird fact in a new paragraph.")
    assert len(chunks) == 1
    assert chunks[0].heading_path == ()
    assert chunks[0].text_for_embedding == chunks[0].text


def test_sentence_split_keeps_decimals_and_abbreviations() -> None:
    assert split_sentences("Uptime is 99.9 percent. Call Dr. Smith today! Is it free? Yes.") == [
        "Uptime is 99.9 percent.", "Call Dr. Smith today!", "Is it free?", "Yes."
    ]


def test_list_items_become_separate_sentences_without_bullets() -> None:
    chunks = chunk_text("## Plans\n- Starter is 19 dollars\n2. Team is 49 dollars!\n* Includes:\n")
    assert chunks[0].text == "Starter is 19 dollars. Team is 49 dollars! Includes:"
    assert split_sentences(chunks[0].text) == ["Starter is 19 dollars.", "Team is 49 dollars!", "Includes:"]


def test_empty_and_heading_only_documents_give_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text("# Title\n\n## Empty section\n") == []


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        ChunkingOptions(target_words=300, max_words=100)
    with pytest.raises(ValueError):
        ChunkingOptions(target_words=100, max_words=200, overlap_words=100)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=40))
def test_no_words_are_lost_and_chunks_stay_within_bounds(sentence_lengths: list[int]) -> None:
    options = ChunkingOptions(target_words=80, max_words=120, overlap_words=20)
    sentences = [" ".join(f"t{i}w{j}" for j in range(n)) + "." for i, n in enumerate(sentence_lengths)]
    chunks = chunk_text("## Section\n" + " ".join(sentences), options)
    assert all(1 <= c.word_count <= options.max_words for c in chunks)
    seen = {w for c in chunks for w in c.text.split()}
    assert seen == {w for s in sentences for w in s.split()}
