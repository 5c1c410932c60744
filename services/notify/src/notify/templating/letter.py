"""Letters: a filled letter template rendered to an A4 PDF (fpdf2).

Layout: the address in the window of a DL envelope (left, 40 mm from the top),
the date on the right, the contact block (if any) top right, the subject as a bold
heading, then the body: paragraphs, ``#``/``##`` headings in bold, bullet and
numbered lists. The built-in PDF fonts cover Latin-1: other characters lose their
accents where they can, else become ``?``.

The number of sheets (two pages a sheet, printed double-sided) is what Notify bills.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date

from fpdf import FPDF

_HEADING = re.compile(r"^(#{1,2})[ \t]*(.+?)[ \t]*#*[ \t]*$")
_BULLET = re.compile(r"^[ \t]*[*\-•][ \t]+(.*)$")
_NUMBERED = re.compile(r"^[ \t]*(\d{1,9})\.[ \t]+(.*)$")


def latin1(text: str) -> str:
    """``text`` in the characters the built-in PDF fonts have (Latin-1)."""
    out = []
    for char in text:
        if char in "\u2018\u2019":
            out.append("'")
        elif char in "\u201c\u201d":
            out.append('"')
        elif char in "\u2013\u2014":
            out.append("-")
        else:
            try:
                char.encode("latin-1")
                out.append(char)
            except UnicodeEncodeError:
                base = unicodedata.normalize("NFKD", char)[:1]
                try:
                    base.encode("latin-1")
                    out.append(base if base else "?")
                except UnicodeEncodeError:
                    out.append("?")
    return "".join(out)


def render_pdf(
    *,
    address_lines: list[str],
    subject: str,
    body: str,
    contact_block: str | None = None,
    letter_date: date | None = None,
) -> bytes:
    """The PDF of one letter (bytes).

    Args:
        address_lines: 3 to 7 lines, the last a postcode or a country.
        subject: the filled subject (a heading on the first page).
        body: the filled body (Notify's letter formatting).
        contact_block: the service's return address and contact details.
        letter_date: the date printed on the letter (today when omitted).
    """
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(left=24, top=20, right=20)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    if contact_block:
        pdf.set_xy(125, 20)
        pdf.multi_cell(65, 5, latin1(contact_block), align="R")
    pdf.set_xy(24, 40)
    for line in address_lines:
        pdf.cell(90, 5, latin1(line), new_x="LMARGIN", new_y="NEXT")
    shown = (letter_date or date.today()).strftime("%-d %B %Y")
    pdf.set_xy(125, 85)
    pdf.cell(65, 5, shown, align="R")
    pdf.set_xy(24, 100)
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.multi_cell(0, 7, latin1(subject))
    pdf.ln(4)
    for block in _blocks(body):
        kind, text = block
        if kind == "heading":
            pdf.set_font("Helvetica", style="B", size=12)
            pdf.multi_cell(0, 6, latin1(text))
        elif kind == "item":
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 5.5, latin1(text), padding=(0, 0, 0, 6))
        else:
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 5.5, latin1(text))
        pdf.ln(2)
    return bytes(pdf.output())


def _blocks(body: str) -> list[tuple[str, str]]:
    blocks: list[tuple[str, str]] = []
    paragraph: list[str] = []

    def close() -> None:
        if paragraph:
            blocks.append(("paragraph", "\n".join(paragraph)))
            paragraph.clear()

    for line in body.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            close()
            continue
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        if heading:
            close()
            blocks.append(("heading", heading.group(2)))
        elif bullet:
            close()
            blocks.append(("item", "\u2022 " + bullet.group(1)))
        elif numbered:
            close()
            blocks.append(("item", f"{numbered.group(1)}. {numbered.group(2)}"))
        else:
            paragraph.append(line.strip())
    close()
    return blocks


def page_count(pdf: bytes) -> int:
    """Pages in a PDF.

    Raises:
        ValueError: when ``pdf`` is not a readable PDF.
    """
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        return len(PdfReader(io.BytesIO(pdf)).pages)
    except (PdfReadError, ValueError, TypeError, KeyError, OSError) as exc:
        raise ValueError(f"not a readable PDF: {type(exc).__name__}") from None


def sheets(pages: int) -> int:
    """Sheets of paper for ``pages`` pages printed double-sided."""
    return max(1, math.ceil(pages / 2))
