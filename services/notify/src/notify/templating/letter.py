"""Letters: a filled letter template rendered to an A4 PDF (fpdf2, Open Sans).

Layout: the address in the window of a DL envelope (left, 40 mm from the top),
the date on the right, the contact block (if any) top right, the subject as a bold
heading, then the body: paragraphs, ``#``/``##`` headings in bold, bullet and
numbered lists. The font is Open Sans (from the ``ttf-opensans`` package): Latin
with every Welsh letter, Greek and Cyrillic. A letter with a character the font does
not have is refused when it is sent (:func:`unprintable`), never printed as ``?``.

The number of sheets (two pages a sheet, printed double-sided) is what Notify bills;
a letter may be at most :data:`MAX_PAGES` pages.
"""

from __future__ import annotations

import functools
import io
import math
import re
from datetime import date

import ttf_opensans
from fontTools.ttLib import TTFont
from fpdf import FPDF

from notify.templating.email import heading_text

_HEADING = re.compile(r"^(#{1,2})[ \t]*(.*)$")
_BULLET = re.compile(r"^[ \t]*[*\-\u2022][ \t]+(.*)$")
_NUMBERED = re.compile(r"^[ \t]*(\d{1,9})\.[ \t]+(.*)$")
FONT = "OpenSans"
#: The longest letter Notify prints (pages).
MAX_PAGES = 10


@functools.cache
def _glyphs() -> frozenset[int]:
    """The code points Open Sans (regular and bold) can draw."""
    regular = TTFont(ttf_opensans.OPENSANS_REGULAR.path).getBestCmap()
    bold = TTFont(ttf_opensans.OPENSANS_BOLD.path).getBestCmap()
    return frozenset(regular) & frozenset(bold)


def unprintable(*texts: str | None) -> list[str]:
    """The characters of ``texts`` that the letter font cannot draw, each once, in order
    (line breaks and tabs are layout, not glyphs)."""
    glyphs = _glyphs()
    seen: dict[str, None] = {}
    for text in texts:
        for char in text or "":
            if char not in "\n\r\t" and ord(char) not in glyphs:
                seen.setdefault(char)
    return list(seen)


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
    pdf.add_font(FONT, "", ttf_opensans.OPENSANS_REGULAR.path)
    pdf.add_font(FONT, "B", ttf_opensans.OPENSANS_BOLD.path)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(left=24, top=20, right=20)
    pdf.add_page()
    pdf.set_font(FONT, size=11)
    if contact_block:
        pdf.set_xy(125, 20)
        pdf.multi_cell(65, 5, contact_block, align="R")
    pdf.set_xy(24, 40)
    for line in address_lines:
        pdf.cell(90, 5, line, new_x="LMARGIN", new_y="NEXT")
    shown = (letter_date or date.today()).strftime("%-d %B %Y")
    pdf.set_xy(125, 85)
    pdf.cell(65, 5, shown, align="R")
    pdf.set_xy(24, 100)
    pdf.set_font(FONT, style="B", size=14)
    pdf.multi_cell(0, 7, subject)
    pdf.ln(4)
    for block in _blocks(body):
        kind, text = block
        if kind == "heading":
            pdf.set_font(FONT, style="B", size=12)
            pdf.multi_cell(0, 6, text)
        elif kind == "item":
            pdf.set_font(FONT, size=11)
            pdf.multi_cell(0, 5.5, text, padding=(0, 0, 0, 6))
        else:
            pdf.set_font(FONT, size=11)
            pdf.multi_cell(0, 5.5, text)
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
        title = heading_text(_HEADING.match(line))
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        if title:
            close()
            blocks.append(("heading", title))
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
        ValueError: when ``pdf`` is not a PDF that ``pypdf`` reads within its limits
            (malformed, encrypted, a page tree too deep or too wide ...).
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        return len(PdfReader(io.BytesIO(pdf)).pages)
    except (
        PyPdfError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OSError,
        RecursionError,
        MemoryError,
    ) as exc:
        raise ValueError(f"not a readable PDF: {type(exc).__name__}") from None


def sheets(pages: int) -> int:
    """Sheets of paper for ``pages`` pages printed double-sided."""
    return max(1, math.ceil(pages / 2))
