"""Text messages: sanitised to what phones show, counted in fragments (GOV.UK Notify's rules).

Characters: the GSM 03.38 basic set and its extension table (``^{}\\[~]|€``), plus
the Welsh accented vowels that GSM lacks. Look-alikes are replaced (smart quotes
by straight ones, dashes by ``-``, ``…`` by ``...``, no-break spaces and tabs by a
space, zero-width characters removed); other letters lose their accents
(``ç`` → ``c``); anything else (emoji, Cyrillic, CJK ...) becomes ``?``.

Fragments: a message in the GSM alphabet is 1 fragment up to 160 characters, else
``ceil(n / 153)``, extension characters counting twice; a message with a Welsh
character outside GSM is sent as UCS-2: 1 fragment up to 70, else ``ceil(n / 67)``.
The longest message is 918 characters (6 x 153), counted after sanitising, without
the service-name prefix and without doubling extension characters.
"""

from __future__ import annotations

import math
import re
import unicodedata

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€"
GSM_CHARACTERS = frozenset(GSM_BASIC + GSM_EXTENSION)
#: Welsh accented vowels (circumflex, acute, grave, diaeresis) that GSM lacks.
WELSH_NON_GSM = frozenset(
    set("âêîôûŵŷÂÊÎÔÛŴŶáéíóúẃýÁÉÍÓÚẂÝàèìòùẁỳÀÈÌÒÙẀỲäëïöüẅÿÄËÏÖÜẄŸ") - GSM_CHARACTERS
)
ALLOWED = GSM_CHARACTERS | WELSH_NON_GSM
REPLACEMENTS = {
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u00a0": " ",
    "\u202f": " ",
    "\u2007": " ",
    "\u2009": " ",
    "\t": " ",
    "\u180e": "",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "Ł": "L",
    "ł": "l",
}
MAX_CHARACTERS = 918


def sanitise(text: str) -> str:
    """``text`` with every character a phone can show (see the module docstring)."""
    out = []
    for char in text:
        if char in ALLOWED:
            out.append(char)
        elif char in REPLACEMENTS:
            out.append(REPLACEMENTS[char])
        else:
            base = unicodedata.normalize("NFKD", char)[:1]
            out.append(base if base and base in ALLOWED and base != char else "?")
    return "".join(out)


def is_unicode(text: str) -> bool:
    """Whether a sanitised message needs UCS-2 (it has a Welsh character outside GSM)."""
    return any(char in WELSH_NON_GSM for char in text)


def fragment_count(text: str) -> int:
    """How many fragments a sanitised message is sent in (at least 1)."""
    if is_unicode(text):
        length = len(text)
        return 1 if length <= 70 else math.ceil(length / 67)
    length = len(text) + sum(1 for char in text if char in GSM_EXTENSION)
    return 1 if length <= 160 else math.ceil(length / 153)


_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<![ \t])[ \t]+(?=[,.])")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    """Notify's clean-up of a filled message: newlines unified, no whitespace before
    ``,`` or ``.``, at most one blank line in a row, no whitespace at either end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACE_BEFORE_PUNCTUATION.sub("", text)
    text = "\n".join(line.rstrip(" ") for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()
