"""Sample knowledge-base content and documents of each supported type, built in memory."""

from __future__ import annotations

import io

# Eight short sections on different topics: the retrieval fixture.
GLOBEX_KB = """# Globex Payroll

## Pricing
Globex Payroll costs 8 dollars per employee per month, with a minimum charge of 40 dollars a month.
Annual billing gets two months free.

## Free trial
New companies can use Globex Payroll free for 30 days. No credit card is required to start.

## Security
All payroll data is encrypted with AES-256 and stored in audited data centers.
Logins are protected by two-factor authentication, and we run penetration tests every quarter.

## Accounting integrations
Globex Payroll syncs journal entries to QuickBooks, Xero and NetSuite automatically after every pay run.

## Support hours
Our support team answers phone calls and chat around the clock, every day of the year, including weekends.

## Cancellation and refunds
You can cancel whenever you like. Unused prepaid months are refunded in full within 10 business days.

## Mobile app
Employees can see their payslips and request time off from the Globex app for iPhone and Android.

## Tax filing coverage
We calculate and file payroll taxes in all 50 US states and in every Canadian province.
"""

# (question, heading of the section that answers it): paraphrases, few words shared with the answer.
GLOBEX_QUESTIONS = [
    ("Is it expensive?", "Pricing"),
    ("How much do you charge?", "Pricing"),
    ("Can I test it before paying anything?", "Free trial"),
    ("How do you keep our information safe from hackers?", "Security"),
    ("Does it connect with my bookkeeping software?", "Accounting integrations"),
    ("When can I reach somebody if something breaks?", "Support hours"),
    ("If we stop using it, do we get our money back?", "Cancellation and refunds"),
    ("Is there something my staff can use on their phones?", "Mobile app"),
    ("Do you handle payroll taxes in Canada?", "Tax filing coverage"),
    ("Who can I talk to on a Sunday?", "Support hours"),
]


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text pypdf can extract: one Helvetica text line per entry."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def sample_docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Widget handbook"
    document.add_heading("Widget handbook", level=1)
    document.add_heading("Shipping", level=2)
    document.add_paragraph("Widgets ship within two business days from our Ohio warehouse.")
    document.add_heading("Warranty", level=2)
    document.add_paragraph("Every widget has a three-year warranty.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Model"
    table.cell(0, 1).text = "Price"
    table.cell(1, 0).text = "Widget Pro"
    table.cell(1, 1).text = "120 dollars"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


SAMPLE_HTML = """<!doctype html><html><head><title>Gizmo FAQ</title><style>p{color:red}</style>
<script>var secret = "do not index";</script></head><body>
<nav>Home | Products</nav>
<h1>Gizmo FAQ</h1><h2>Battery</h2><p>The gizmo battery lasts <b>eleven hours</b> on a charge.</p>
<h2>Colors</h2><ul><li>Gizmos come in teal.</li><li>Gizmos come in orange.</li></ul>
</body></html>"""


