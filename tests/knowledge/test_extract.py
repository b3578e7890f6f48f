from __future__ import annotations

import pytest
from kb_samples import SAMPLE_HTML, minimal_pdf, sample_docx

from sdr_agent.knowledge.extract import (
    DocumentFormat,
    ExtractionError,
    UnsupportedFormatError,
    clean_markdown,
    detect_format,
    extract_text,
)
from sdr_agent.knowledge.render import text_to_html


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("notes.TXT", None, DocumentFormat.TEXT),
        ("facts.md", None, DocumentFormat.MARKDOWN),
        ("page.htm", None, DocumentFormat.HTML),
        ("deck.pdf", "application/octet-stream", DocumentFormat.PDF),
        ("handbook.docx", None, DocumentFormat.DOCX),
        ("", "text/plain; charset=utf-8", DocumentFormat.TEXT),
        (None, "application/pdf", DocumentFormat.PDF),
    ],
)
def test_format_detection(filename: str | None, content_type: str | None, expected: DocumentFormat) -> None:
    assert detect_format(filename, content_type) is expected


@pytest.mark.parametrize(("filename", "content_type"), [("sheet.xlsx", None), ("image.png", "image/png"),
                                                         ("", "application/zip"), ("old.doc", None)])
def test_other_types_are_unsupported(filename: str, content_type: str | None) -> None:
    with pytest.raises(UnsupportedFormatError):
        detect_format(filename, content_type)


def test_text_is_decoded_and_normalised() -> None:
    raw = "Caf\u00e9 hours:\r\n\r\n\r\n\r\nopen   9\tto 5.".encode("utf-8-sig")
    result = extract_text(raw, DocumentFormat.TEXT)
    assert result.text == "Café hours:\n\nopen 9 to 5."
    legacy = "smart \u201cquotes\u201d".encode("cp1252")
    assert extract_text(legacy, DocumentFormat.TEXT).text == "smart “quotes”"
    assert extract_text("wide".encode("utf-16"), DocumentFormat.TEXT).text == "wide"


def test_binary_data_is_not_text() -> None:
    with pytest.raises(ExtractionError):
        extract_text(b"\x00\x01\x02binary", DocumentFormat.TEXT)


def test_markdown_keeps_headings_and_drops_syntax() -> None:
    md = ("# Pricing\n\nThe **Team** plan is _49 dollars_; see [our site](https://acme.test).\n\n"
          "| Plan | Price |\n|---|---:|\n| Team | 49 |\n\n> Quoted `code`\n\n---\n")
    assert clean_markdown(md) == (
        "# Pricing\n\nThe Team plan is 49 dollars; see our site.\n\nPlan | Price\n\nTeam | 49\n\nQuoted code"
    )


def test_html_skips_scripts_and_marks_headings() -> None:
    result = extract_text(SAMPLE_HTML.encode(), DocumentFormat.HTML)
    assert result.title == "Gizmo FAQ"
    assert "# Gizmo FAQ" in result.text and "## Battery" in result.text
    assert "The gizmo battery lasts eleven hours on a charge." in result.text
    assert "- Gizmos come in teal." in result.text
    assert "secret" not in result.text and "color" not in result.text


def test_pdf_text_is_extracted() -> None:
    result = extract_text(minimal_pdf(["Refund policy", "Refunds (full) are paid within 10 days."]),
                          DocumentFormat.PDF)
    assert "Refunds (full) are paid within 10 days." in result.text


def test_docx_headings_paragraphs_and_tables() -> None:
    result = extract_text(sample_docx(), DocumentFormat.DOCX)
    assert result.title == "Widget handbook"
    assert "## Shipping" in result.text
    assert "Widgets ship within two business days from our Ohio warehouse." in result.text
    assert "Widget Pro | 120 dollars" in result.text


@pytest.mark.parametrize("fmt", [DocumentFormat.PDF, DocumentFormat.DOCX])
def test_corrupt_binary_documents_raise_extraction_error(fmt: DocumentFormat) -> None:
    with pytest.raises(ExtractionError):
        extract_text(b"this is not really a document", fmt)


def test_documents_without_text_are_rejected() -> None:
    with pytest.raises(ExtractionError, match="no text"):
        extract_text(b"   \n\n ", DocumentFormat.TEXT)
    with pytest.raises(ExtractionError, match="no text"):
        extract_text(b"<html><script>x()</script></html>", DocumentFormat.HTML)


def test_extracted_text_renders_as_escaped_html() -> None:
    html = text_to_html("# Title <1>\n\nFirst line\nsame paragraph.\n- item & more\n- two\n\nLast.")
    assert html == ("<h1>Title &lt;1&gt;</h1><p>First line same paragraph.</p>"
                    "<ul><li>item &amp; more</li><li>two</li></ul><p>Last.</p>")


def test_html_without_closing_head_and_with_page_wide_form_keeps_its_text() -> None:
    page = ("<html><head><title>Shop</title><meta charset=utf-8><body><form><nav>Menu</nav>"
            "<h2>Hours</h2><p>We open at nine.<svg><title>clock icon</title></svg></p></form>")
    result = extract_text(page.encode(), DocumentFormat.HTML)
    assert result.text == "## Hours\n\nWe open at nine."
    assert result.title == "Shop"
