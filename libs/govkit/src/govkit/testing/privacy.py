"""Looking for personal data where it must never be: the platform's log lines and the
attributes of its spans (docs/architecture.md, Observability).

:func:`findings` reads every line of ``DATA_DIR/log/*.log`` (each component's JSON
log and NATS's) and, when the platform writes one, every span of its trace file
(``GOVPLAT_TRACE_FILE``, :class:`govkit.telemetry.JsonLinesSpanExporter`: each span's
name, attributes, events and links, not its times), and reports:

- any of the exact values a test used (emails, phone numbers, names, card numbers,
  passwords, tokens), compared without regard to case, and a card or phone number
  also with its spaces and hyphens taken out;
- anything shaped like personal data or a credential, whatever the test used: an
  email address, a run of 13 to 19 digits (spaces or hyphens between them allowed)
  that passes the Luhn check as card numbers do, a UK mobile number, a JWT, or a key
  with one of the platform's prefixes (``api_test_``, ``webhook_live_`` ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: 13 to 19 digits, single spaces or hyphens allowed between them, not inside a longer
#: run of digits, letters or hyphens (hex ids and UUIDs, base64).
DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z-])")
#: Not inside a longer run of digits, letters or hyphens (a UUID's last group may be
#: eleven digits and a letter).
UK_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+-])(?:\+44\s?|0044\s?|0)7\d{3}\s?\d{3}\s?\d{3}(?![0-9A-Za-z-])"
)
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
KEY = re.compile(r"(?:api|webhook)_(?:test|live)_[A-Za-z0-9_-]{16,}")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (ISO/IEC 7812-1 Annex B)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _compact(value: str) -> str:
    return re.sub(r"[\s-]", "", value)


def shaped_like_personal_data(text: str) -> list[str]:
    """What in ``text`` looks like an email, a card number, a UK mobile number, a JWT
    or a platform key (see the module docstring), as ``"<kind> <match>"``."""
    found = [f"email {m}" for m in EMAIL.findall(text)]
    for match in DIGIT_RUN.finditer(text):
        digits = _compact(match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(f"card number {match.group()}")
    found += [f"phone number {m}" for m in UK_MOBILE.findall(text)]
    found += [f"token {m[:24]}..." for m in JWT.findall(text)]
    found += [f"key {m[:16]}..." for m in KEY.findall(text)]
    return found


def records(data_dir: Path, trace_file: Path | None = None) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every log line under ``data_dir/log`` and every span of
    ``trace_file`` (its name, attributes, events and links as JSON)."""
    for log in sorted((data_dir / "log").glob("*.log")):
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            yield f"{log.name}:{number}", line
    if trace_file is None or not trace_file.exists():
        return
    for number, line in enumerate(trace_file.read_text(errors="replace").splitlines(), 1):
        try:
            span = json.loads(line)
        except ValueError:
            continue
        shown = {k: span.get(k) for k in ("name", "attributes", "events", "links")}
        yield (
            f"{trace_file.name}:{number} ({span.get('service')} {span.get('name')})",
            json.dumps(shown, ensure_ascii=False),
        )


def findings(
    data_dir: Path, exact: Iterable[str] = (), trace_file: Path | None = None
) -> list[str]:
    """Every place in the platform's logs and spans (:func:`records`) that holds one of
    the ``exact`` values or something shaped like personal data, as
    ``"<where>: <what>"``; ``[]`` when there is none."""
    values = [v for v in exact if v]
    lowered = [(v, v.lower()) for v in values]
    compacted = [(v, _compact(v)) for v in values if len(_compact(v)) >= 8]
    found = []
    for where, text in records(data_dir, trace_file):
        low = text.lower()
        squeezed = _compact(text)
        for value, needle in lowered:
            if needle in low:
                found.append(f"{where}: the value {value!r}")
        for value, needle in compacted:
            if needle.isdigit() and needle in squeezed and value.lower() not in low:
                found.append(f"{where}: the value {value!r} (spaced)")
        found += [f"{where}: {what}" for what in shaped_like_personal_data(text)]
    return found
