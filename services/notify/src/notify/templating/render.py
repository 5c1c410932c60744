"""One template and its personalisation, rendered for its channel (Notify's rules).

- Text message: placeholders filled (lists as ``a, b and c``), sanitised to GSM
  (:mod:`.sms`), whitespace normalised. ``body`` is what the API shows (no
  service-name prefix); ``sent`` is what the phone receives (with the prefix when
  the service uses one); fragments are counted on ``sent``.
- Email: ``body`` is the template's Markdown with placeholders filled (lists as
  bullet lists), as Notify's API shows it; ``html`` is that rendered with Notify's
  formatting subset (:mod:`.email`); the subject is filled and its whitespace
  normalised.
- Letter: ``body`` and ``subject`` filled as for emails; the PDF is made at
  delivery (:mod:`.letter`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from notify.templating import email, sms
from notify.templating.placeholders import Personalisation, fill, normalise_name

#: Emails may be at most this many bytes once filled (Notify's limit).
EMAIL_MAX_BYTES = 2_000_000


@dataclass(frozen=True)
class Rendered:
    """A rendered message.

    Attributes:
        type: ``email``, ``sms`` or ``letter``.
        body: the content as the API shows it.
        subject: emails and letters; ``None`` for text messages.
        html: the email's HTML fragment; ``None`` otherwise.
        sent: for text messages, exactly what is sent (prefix included).
        fragments: text message fragments (0 for other channels).
        length: characters of a text message (no prefix, extension characters once)
            or bytes of an email body (UTF-8).
    """

    type: str
    body: str
    subject: str | None
    html: str | None = None
    sent: str = ""
    fragments: int = 0
    length: int = 0


def render(
    template_type: str,
    body: str,
    subject: str | None,
    values: Mapping[str, object] | None,
    *,
    sms_prefix: str | None = None,
) -> Rendered:
    """Render a template's ``body`` and ``subject`` with ``values`` (personalisation).

    Missing personalisation is left as ``((name))``: check
    :meth:`Personalisation.missing` first.
    """
    personalisation = Personalisation(values)
    if template_type == "sms":
        text = sms.normalise(sms.sanitise(fill(body, personalisation, list_style="prose")))
        sent = f"{sms.sanitise(sms_prefix)}: {text}" if sms_prefix else text
        return Rendered(
            type="sms",
            body=text,
            subject=None,
            sent=sent,
            fragments=sms.fragment_count(sent),
            length=len(text),
        )
    filled = fill(body, personalisation, list_style="markdown")
    filled_subject = " ".join(fill(subject or "", personalisation, list_style="prose").split())
    if template_type == "email":
        return Rendered(
            type="email",
            body=filled,
            subject=filled_subject,
            html=email.to_html(filled),
            length=len(filled.encode("utf-8")),
        )
    return Rendered(type="letter", body=filled, subject=filled_subject)


_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_DOMAIN = re.compile(r"(?i)\b([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.([a-z]{2,63})\b")
_MARKDOWN_CHARACTERS = re.compile(r"([\\`*_(){}\[\]<>#+\-.!|])")


def sanitise_value(value: str) -> str:
    """Notify's ``sanitise_content_for``: links removed (a bare domain split as
    ``a. com``) and Markdown characters escaped, so a value shows as plain text."""
    value = _URL.sub("", value)
    value = _DOMAIN.sub(r"\1. \2", value)
    return _MARKDOWN_CHARACTERS.sub(r"\\\1", value)


def sanitise_personalisation(
    values: Mapping[str, object], keys: list[str]
) -> tuple[dict[str, object], dict[str, dict[str, str]]]:
    """Apply :func:`sanitise_value` to the string values named in ``keys`` (matched as
    placeholder names are). Returns the new values and Notify's ``sanitised_content``
    (``{key: {"unsanitised": ..., "sanitised": ...}}`` for each value that changed)."""
    wanted = {normalise_name(k) for k in keys}
    out: dict[str, object] = {}
    changed: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        if normalise_name(str(key)) in wanted and isinstance(value, str):
            clean = sanitise_value(value)
            if clean != value:
                changed[key] = {"unsanitised": value, "sanitised": clean}
            out[key] = clean
        else:
            out[key] = value
    return out, changed
