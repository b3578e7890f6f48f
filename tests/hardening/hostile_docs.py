"""Hostile documents: what an attacker with an API key uploads to burn CPU, memory or the parser."""

from __future__ import annotations

import io
import zipfile

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_with_body(document_xml: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """A real .docx (made by python-docx) whose word/document.xml is replaced."""
    import docx

    base = io.BytesIO()
    docx.Document().save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = document_xml if item.filename == "word/document.xml" else source.read(item.filename)
            target.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return out.getvalue()


def million_paragraphs_docx(count: int = 3_000_000) -> bytes:
    """Tiny on the wire (tens of KB), hours of python-docx object building without a CPU limit."""
    body = b"<w:p/>" * count
    return docx_with_body(b'<?xml version="1.0"?><w:document ' + _W.encode() + b"><w:body>" + body
                          + b"</w:body></w:document>")


def zip_bomb_docx() -> bytes:
    """document.xml of 50 MB of spaces: a compression ratio no real document has."""
    return docx_with_body(b'<?xml version="1.0"?><w:document ' + _W.encode() + b"><w:body>"
                          + b" " * (50 * 1024 * 1024) + b"</w:body></w:document>")


def entity_bomb_docx() -> bytes:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">'.encode()
                   for i in range(1, 10))
        + b"]><w:document " + _W.encode()
        + b"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    )
    return docx_with_body(lol)


def huge_text_node_docx(megabytes: int = 11) -> bytes:
    text = b"A" * (megabytes * 1024 * 1024)
    return docx_with_body(b'<?xml version="1.0"?><w:document ' + _W.encode() + b"><w:body><w:p><w:r><w:t>"
                          + text + b"</w:t></w:r></w:p></w:body></w:document>")


def malformed_xml_docx() -> bytes:
    return docx_with_body(b'<?xml version="1.0"?><w:document ' + _W.encode() + b"><w:body><w:p>unclosed")


def path_escape_docx() -> bytes:
    return docx_with_body(
        b'<?xml version="1.0"?><w:document ' + _W.encode() + b"><w:body/></w:document>",
        extra={"../../etc/evil": b"x"},
    )


def malformed_pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"\x00garbage" * 100 + b"\n%%EOF"


def hostile_uploads() -> list[tuple[str, bytes]]:
    cpu_burner = million_paragraphs_docx()
    return [
        ("burner.docx", cpu_burner),
        ("entity.docx", entity_bomb_docx()),
        ("malformed.docx", malformed_xml_docx()),
        ("broken.pdf", malformed_pdf()),
        ("../../../../etc/passwd.docx", path_escape_docx()),
    ]
