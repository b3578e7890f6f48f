"""Split a document into retrieval chunks: by heading sections first, then by sentences with overlap.

Input is the plain text the extractors produce, where headings are Markdown ``#`` lines. A chunk never
crosses a heading, so a short section (one price, one policy) stays its own precise chunk; a long section
is packed sentence by sentence into ~target-word chunks, each starting with the previous chunk's last
sentences (the overlap) so a fact on a boundary is whole in at least one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace and a
# capital, digit, quote or bullet. Decimal points ("4.5") and most abbreviations ("e.g. the") survive.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[•\-–])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "vs.", "Inc.", "Ltd.", "Co.", "Jr.", "Sr.", "No.")


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    target_words: int = 180
    max_words: int = 300
    overlap_words: int = 40

    def __post_init__(self) -> None:
        if not 0 < self.target_words <= self.max_words:
            raise ValueError("chunking needs 0 < target_words <= max_words")
        if not 0 <= self.overlap_words < self.target_words:
            raise ValueError("chunking needs 0 <= overlap_words < target_words")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    heading_path: tuple[str, ...]

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def text_for_embedding(self) -> str:
        """The heading path gives the model the topic a terse sentence ("It is 49 dollars.") is about."""
        return f"{self.heading}\n{self.text}" if self.heading_path else self.text

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class Section:
    heading_path: tuple[str, ...]
    paragraphs: tuple[str, ...]


def split_sections(text: str) -> list[Section]:
    """Group paragraphs under their heading path; sections without body text are dropped."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def end_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    def end_section() -> None:
        end_paragraph()
        if paragraphs:
            sections.append(Section(tuple(title for _, title in path), tuple(paragraphs)))
            paragraphs.clear()

    for raw_line in text.splitlines():
        line = raw_line.strip()
        heading = _HEADING.match(raw_line)
        if heading:
            end_section()
            level = len(heading.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading.group(2).strip()))
        elif not line:
            end_paragraph()
        elif _LIST_ITEM.match(line):
            # A list item is a statement of its own: the bullet goes, a full stop ends it if it has none.
            end_paragraph()
            item = _LIST_ITEM.sub("", line).strip()
            current.append(item if item.endswith((".", "!", "?", ":", ";")) else f"{item}.")
            end_paragraph()
        else:
            current.append(line)
    end_section()
    return sections


def split_sentences(paragraph: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(paragraph) if p.strip()]
    merged: list[str] = []
    for part in parts:
        if merged and merged[-1].endswith(_ABBREVIATIONS):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return merged


def _split_long(sentence: str, max_words: int) -> list[str]:
    words = sentence.split()
    if len(words) <= max_words:
        return [sentence]
    return [" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words)]


def _pack(sentences: list[str], options: ChunkingOptions) -> list[list[str]]:
    chunks: list[list[str]] = []
    current: list[str] = []
    count = 0
    fresh = 0  # words in ``current`` that are not overlap carried from the previous chunk
    for sentence in sentences:
        words = len(sentence.split())
        if current and fresh and (count >= options.target_words or count + words > options.max_words):
            chunks.append(current)
            current = _overlap(current, options.overlap_words, options.max_words - words)
            count = sum(len(s.split()) for s in current)
            fresh = 0
        current.append(sentence)
        count += words
        fresh += words
    if current and fresh:
        chunks.append(current)
    return _merge_small_tail(chunks, options)


def _overlap(previous: list[str], overlap_words: int, room: int) -> list[str]:
    carried: list[str] = []
    total = 0
    for sentence in reversed(previous):
        words = len(sentence.split())
        if total + words > min(overlap_words, room):
            break
        carried.insert(0, sentence)
        total += words
    return carried


def _merge_small_tail(chunks: list[list[str]], options: ChunkingOptions) -> list[list[str]]:
    if len(chunks) < 2:
        return chunks
    tail, before = chunks[-1], chunks[-2]
    tail_words = sum(len(s.split()) for s in tail)
    if tail_words >= options.target_words // 3:
        return chunks
    extra = [s for s in tail if s not in before]
    merged_words = sum(len(s.split()) for s in before + extra)
    if merged_words <= options.max_words:
        return [*chunks[:-2], before + extra]
    return chunks


def chunk_text(text: str, options: ChunkingOptions | None = None) -> list[Chunk]:
    """Chunks in document order, numbered from 0."""
    options = options or ChunkingOptions()
    chunks: list[Chunk] = []
    for section in split_sections(text):
        sentences: list[str] = []
        for paragraph in section.paragraphs:
            for sentence in split_sentences(paragraph):
                sentences.extend(_split_long(sentence, options.max_words))
        for group in _pack(sentences, options):
            chunks.append(Chunk(len(chunks), " ".join(group), section.heading_path))
    return chunks
