"""Plain text out of uploaded documents: .txt .md .pdf .html .docx.

Every extractor returns text whose headings are Markdown ``#`` lines, the one structure chunking uses.
Unreadable input raises ``ExtractionError`` with a message fit for an API client; nothing else escapes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath
from typing import TYPE_CHECKING

from sdr_agent.knowledge.html_text import html_to_text

if TYPE_CHECKING:
    from docx.text.paragraph import Paragraph


class DocumentFormat(StrEnum):
    TEXT = "txt"
    MARKDOWN = "md"
    PDF = "pdf"
    HTML = "html"
    DOCX = "docx"


class ExtractionError(ValueError):
    """The document could not be read (corrupt, encrypted, empty, wrong format)."""


class UnsupportedFormatError(ExtractionError):
    """Not one of the supported document types."""


SUPPORTED_EXTENSIONS: dict[str, DocumentFormat] = {
    ".txt": DocumentFormat.TEXT,
    ".text": DocumentFormat.TEXT,
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".pdf": DocumentFormat.PDF,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".docx": DocumentFormat.DOCX,
}

_CONTENT_TYPES: dict[str, DocumentFormat] = {
    "text/plain": DocumentFormat.TEXT,
    "text/markdown": DocumentFormat.MARKDOWN,
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "application/pdf": DocumentFormat.PDF,
    "text/html": DocumentFormat.HTML,
    "application/xhtml+xml": DocumentFormat.HTML,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentFormat.DOCX,
}


@dataclass(frozen=True, slots=True)
class ExtractedText:
    text: str
    title: str = ""  # the document's own title where the format has one (HTML <title>, DOCX core title)


def detect_format(filename: str | None, content_type: str | None = None) -> DocumentFormat:
    """By file extension, else by media type. Raises UnsupportedFormatError."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix:
        found = SUPPORTED_EXTENSIONS.get(suffix)
        if found is None:
            raise UnsupportedFormatError(
                f"unsupported file type {suffix!r}; supported: .txt, .md, .pdf, .html, .docx"
            )
        return found
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    raise UnsupportedFormatError(
        f"unsupported content type {media or 'unknown'!r}; supported: .txt, .md, .pdf, .html, .docx"
    )


def format_for_content_type(content_type: str | None) -> DocumentFormat | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media)


def extract_text(data: bytes, fmt: DocumentFormat) -> ExtractedText:
    """Raises ExtractionError when the bytes are not a readable document of that format or hold no text."""
    if fmt is DocumentFormat.PDF:
        result = _extract_pdf(data)
    elif fmt is DocumentFormat.DOCX:
        result = _extract_docx(data)
    elif fmt is DocumentFormat.HTML:
        text, title = html_to_text(decode_text(data))
        result = ExtractedText(text, title)
    elif fmt is DocumentFormat.MARKDOWN:
        result = ExtractedText(clean_markdown(decode_text(data)))
    else:
        result = ExtractedText(normalize_text(decode_text(data)))
    if not result.text.strip():
        raise ExtractionError("the document contains no text")
    return result


def decode_text(data: bytes) -> str:
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if b"\x00" in data[:4096] and not utf16:
        raise ExtractionError("the file looks binary, not text")
    for encoding in ("utf-16",) if utf16 else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    # Legacy 8-bit text: cp1252 covers the usual “smart quotes”; latin-1 cannot fail.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def normalize_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images keep their alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links keep their words
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML tags
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])[*_]([^*_\n]+)[*_](?![\w*])"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE), ""),  # blockquotes
    (re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$", re.MULTILINE), ""),  # horizontal rules
    (re.compile(r"^[ \t]*```.*$", re.MULTILINE), ""),  # code fences
    # table header rules such as |---|:---:|
    (re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$", re.MULTILINE), ""),
)


def clean_markdown(text: str) -> str:
    """Markdown to the plain statements a voice agent can quote; ``#`` headings are kept for chunking."""
    text = normalize_text(text)
    for pattern, replacement in _MD_RULES:
        text = pattern.sub(replacement, text)
    # Table rows lose their outer pipes; inner pipes stay as cell separators.
    lines = [line.strip().strip("|").strip() if "|" in line else line for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _extract_pdf(data: bytes) -> ExtractedText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.get("/Title") or "") if reader.metadata else ""
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError(f"could not read the PDF: {exc}") from exc
    return ExtractedText(normalize_text("\n\n".join(pages)), title.strip())


def _extract_docx(data: bytes) -> ExtractedText:
    from zipfile import BadZipFile

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from lxml import etree

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                lines.append(_docx_paragraph(block))
            elif isinstance(block, Table):
                for row in block.rows:
                    cells = [cell.text.strip() for cell in row.cells]
                    lines.append(" | ".join(cell for cell in cells if cell))
                lines.append("")
        title = document.core_properties.title or ""
    # lxml's XMLSyntaxError: malformed XML, a text node over 10 MB, an entity loop (never resolved).
    except (BadZipFile, KeyError, ValueError, OSError, etree.XMLSyntaxError) as exc:
        raise ExtractionError(f"could not read the .docx file: {exc}") from exc
    return ExtractedText(normalize_text("\n".join(lines)), title.strip())


def _docx_paragraph(paragraph: Paragraph) -> str:
    text = paragraph.text.strip()
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if text and style == "Title":
        return f"\n# {text}\n"
    match = re.match(r"Heading (\d)", style)
    if text and match:
        return f"\n{'#' * min(int(match.group(1)), 6)} {text}\n"
    if text and style.startswith("List"):
        return f"- {text}"
    # A blank line after each paragraph keeps paragraphs apart when chunking.
    return f"{text}\n" if text else ""
