"""Emails: GOV.UK Notify's formatting subset, rendered to HTML.

What a template (and, as in Notify, a personalisation value) may use:

- ``# heading`` (shown as a heading) and ``## sub-heading``; deeper headings are
  plain paragraphs;
- bullet lists (lines starting ``*``, ``-`` or ``•`` and a space) and numbered lists
  (``1.``);
- inset text (lines starting ``^``);
- a horizontal rule (``---`` or ``***``);
- links ``[text](https://...)`` and bare ``http(s)://`` addresses, made links;
- single line breaks kept (``<br>``), a blank line between paragraphs.

Nothing else: no bold, italics, code, images, tables or raw HTML (all text is
escaped). Typography as Notify's: straight quotes become curly, a spaced hyphen
becomes an en dash, whitespace before ``,`` and ``.`` goes, and ``GOV.UK`` gets a
zero-width space so that mail programs do not link it.
"""

from __future__ import annotations

import html
import re

_HEADING = re.compile(r"^(#{1,6})[ \t]*(.*)$")
_BULLET = re.compile(r"^[ \t]*[*\-•][ \t]+(.*)$")
_NUMBERED = re.compile(r"^[ \t]*\d{1,9}\.[ \t]+(.*)$")
_RULE = re.compile(r"^[ \t]*(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_INSET = re.compile(r"^[ \t]*\^[ \t]?(.*)$")
_IMAGE = re.compile(r"!\[[^\[\]\n]{0,500}\]\([^()\s]{0,2000}\)")
_LINK = re.compile(r"\[([^\[\]\n]{1,500})\]\([ \t]*(https?://[^\s()]{1,2000})[ \t]*\)")
_BARE_URL = re.compile(r"(?<![\"'=>])\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<![ \t])[ \t]+(?=[,.])")
_SPACED_HYPHEN = re.compile(r"(?<=\S) - (?=\S)")

LINK_STYLE = "color: #1d70b8; word-wrap: break-word;"
PARAGRAPH_STYLE = "margin: 0 0 20px 0; font-size: 19px; line-height: 25px; color: #0b0c0c;"
HEADING_STYLES = {
    2: "margin: 0 0 20px 0; padding: 0; font-size: 27px; line-height: 35px; font-weight: bold; color: #0b0c0c;",
    3: "margin: 0 0 15px 0; padding: 0; font-size: 19px; line-height: 25px; font-weight: bold; color: #0b0c0c;",
}
LIST_STYLE = (
    "margin: 0 0 20px 0; padding: 0 0 0 20px; font-size: 19px; line-height: 25px; color: #0b0c0c;"
)
INSET_STYLE = (
    "margin: 0 0 20px 0; padding: 15px 0 0.1px 15px; border-left: 10px solid #b1b4b6; "
    "font-size: 19px; line-height: 25px;"
)
RULE_STYLE = "border: 0; height: 1px; background: #b1b4b6; margin: 30px 0 30px 0;"


def smart_quotes(text: str) -> str:
    """Straight quotes made typographic (opening after a space or start, else closing)."""
    text = re.sub(r"(^|[\s(\[{])\"", "\\1\u201c", text)
    text = text.replace('"', "\u201d")
    text = re.sub(r"(^|[\s(\[{])'", "\\1\u2018", text)
    return text.replace("'", "\u2019")


def typography(text: str) -> str:
    """Notify's typographic clean-up of plain (unescaped) text."""
    text = _SPACE_BEFORE_PUNCTUATION.sub("", text)
    text = _SPACED_HYPHEN.sub(" \u2013 ", text)
    text = smart_quotes(text)
    return re.sub(r"(?i)\bGOV\.UK\b", lambda m: m.group(0)[:4] + "\u200b" + m.group(0)[4:], text)


def _inline(text: str) -> str:
    """Escaped, typographic text with links (the inline part of a block)."""
    text = _IMAGE.sub("", text)
    pieces: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        pieces.append(_autolink(text[position : match.start()]))
        url = match.group(2)
        pieces.append(
            f'<a style="{LINK_STYLE}" href="{html.escape(url, quote=True)}">'
            f"{html.escape(typography(match.group(1)), quote=False)}</a>"
        )
        position = match.end()
    pieces.append(_autolink(text[position:]))
    return "".join(pieces)


def _autolink(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _BARE_URL.finditer(text):
        pieces.append(html.escape(typography(text[position : match.start()]), quote=False))
        url = match.group(0)
        pieces.append(
            f'<a style="{LINK_STYLE}" href="{html.escape(url, quote=True)}">'
            f"{html.escape(url, quote=False)}</a>"
        )
        position = match.end()
    pieces.append(html.escape(typography(text[position:]), quote=False))
    return _unescape("".join(pieces))


_ESCAPED = re.compile(r"\\(&lt;|&gt;|[\\`*_(){}\[\]#+\-.!|])")


def _unescape(text: str) -> str:
    """Backslash-escaped Markdown characters shown as themselves (already HTML-escaped text)."""
    return _ESCAPED.sub(r"\1", text)


def _lines(lines: list[str]) -> str:
    return "<br>".join(_inline(line.strip()) for line in lines)


def heading_text(match: re.Match[str] | None) -> str:
    """The text of a ``#`` heading line (closing ``#``s and spaces removed), or ''.
    Done with ``str`` methods, not a backtracking pattern, so a long line is linear."""
    if match is None:
        return ""
    return match.group(2).rstrip(" \t").rstrip("#").rstrip(" \t")


def to_html(markdown: str) -> str:
    """The HTML fragment of a filled email body (``markdown``: template text with the
    personalisation already in it). Every piece of text is escaped."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""
    inset: list[str] = []

    def close() -> None:
        nonlocal list_tag
        if paragraph:
            blocks.append(f'<p style="{PARAGRAPH_STYLE}">{_lines(paragraph)}</p>')
            paragraph.clear()
        if items:
            inner = "".join(
                f'<li style="margin: 5px 0 5px; padding: 0 0 0 5px;">{_inline(i)}</li>'
                for i in items
            )
            blocks.append(f'<{list_tag} style="{LIST_STYLE}">{inner}</{list_tag}>')
            items.clear()
            list_tag = ""
        if inset:
            blocks.append(
                f'<blockquote style="{INSET_STYLE}"><p style="{PARAGRAPH_STYLE}">'
                f"{_lines(inset)}</p></blockquote>"
            )
            inset.clear()

    for line in lines:
        if not line.strip():
            close()
            continue
        if _RULE.match(line):
            close()
            blocks.append(f'<hr style="{RULE_STYLE}">')
            continue
        heading = _HEADING.match(line)
        title = heading_text(heading)
        if title and len(heading.group(1)) <= 2:
            close()
            level = len(heading.group(1)) + 1
            blocks.append(f'<h{level} style="{HEADING_STYLES[level]}">{_inline(title)}</h{level}>')
            continue
        if title:  # ### and deeper: a plain paragraph
            line = title
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line) if not bullet else None
        if bullet or numbered:
            tag = "ul" if bullet else "ol"
            if paragraph or inset or (items and list_tag != tag):
                close()
            list_tag = tag
            items.append((bullet or numbered).group(1))
            continue
        quoted = _INSET.match(line)
        if quoted:
            if paragraph or items:
                close()
            inset.append(quoted.group(1))
            continue
        if items:  # a line under a list item continues it
            items[-1] += " " + line.strip()
            continue
        if inset:
            close()
        paragraph.append(line)
    close()
    return "\n".join(blocks)


def document(
    *, subject: str, body_html: str, service_name: str, unsubscribe_url: str | None
) -> str:
    """The whole HTML email: an accessible single-column layout around ``body_html``."""
    footer = ""
    if unsubscribe_url:
        footer = (
            f'<p style="{PARAGRAPH_STYLE}"><a style="{LINK_STYLE}" '
            f'href="{html.escape(unsubscribe_url, quote=True)}">Unsubscribe</a></p>'
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(subject)}</title></head>"
        '<body style="font-family: Helvetica, Arial, sans-serif; font-size: 16px; margin: 0; color: #0b0c0c;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="border-collapse: collapse; min-width: 100%; width: 100% !important;">'
        '<tr><td style="background: #0b0c0c; padding: 10px 20px; color: #ffffff; font-size: 19px; '
        f'font-weight: bold;">{html.escape(service_name)}</td></tr>'
        f'<tr><td style="padding: 30px 20px; max-width: 580px;">{body_html}{footer}</td></tr>'
        "</table></body></html>"
    )
