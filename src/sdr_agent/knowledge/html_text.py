"""HTML to plain text with Markdown ``#`` headings (so chunking can follow the page's sections)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas", "nav"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "body", "br", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "footer", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.title = ""
        self._current: list[str] = []
        self._skip_depth = 0
        self._heading_level = 0
        self._in_title = False
        self._title_done = False
        self._in_pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = not self._title_done  # the page's, not an <svg><title>
            return
        if tag == "body":
            self._skip_depth = 0  # HTML lets </head> be omitted; the body ends it
        if tag in _SKIP and tag not in _VOID:
            self._skip_depth += 1
            return
        if tag in _HEADINGS:
            self._flush()
            self._heading_level = _HEADINGS[tag]
        elif tag in _BLOCK:
            self._flush()
            if tag == "li":
                self._current.append("- ")
            if tag == "pre":
                self._in_pre = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._title_done = self._title_done or self._in_title
            self._in_title = False
            return
        if tag in _SKIP and tag not in _VOID:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag in ("td", "th"):
            self._current.append(" | ")
        elif tag in _HEADINGS:
            self._flush()
            self._heading_level = 0
        elif tag in _BLOCK:
            self._flush()
            if tag in ("p", "ul", "ol", "table", "pre", "blockquote", "section", "article"):
                self.lines.append("")
            if tag == "pre":
                self._in_pre = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip_depth:
            return
        self._current.append(data if self._in_pre else re.sub(r"\s+", " ", data))

    def _flush(self) -> None:
        text = "".join(self._current)
        self._current.clear()
        text = re.sub(r"[ \t]+", " ", text).strip().strip("|").strip()
        if not text or text == "-":
            return
        if self._heading_level:
            self.lines.extend(["", f"{'#' * self._heading_level} {text}", ""])
        else:
            self.lines.append(text)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> tuple[str, str]:
    """Return (text, page title). Headings become ``#`` lines, list items ``- `` lines."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    text = "\n".join(collector.lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, re.sub(r"\s+", " ", collector.title).strip()
