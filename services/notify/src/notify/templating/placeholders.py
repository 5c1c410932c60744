"""Placeholders in templates: ``((name))`` and ``((flag??text))`` (GOV.UK Notify's rules).

- A placeholder is ``((`` then anything without ``(`` or ``)`` then ``))``.
- Names match ignoring case, spaces, underscores and hyphens: ``First Name``,
  ``first_name`` and ``FIRSTNAME`` are the same placeholder.
- ``((flag??text))`` shows ``text`` when the value of ``flag`` is one of ``yes``, ``y``,
  ``true``, ``t``, ``1``, ``include`` or ``show`` (any case), and nothing otherwise.
- Every placeholder is required, the flag of a conditional included; a ``null``
  value counts as missing and ``""`` as given. Extra values are ignored.
- A value that is a list becomes a bullet list in emails and letters
  (``\\n\\n* a\\n* b``) and ``a, b and c`` in text messages; any other value is
  turned into text as Python's ``str`` would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
TRUTHY = frozenset({"yes", "y", "true", "t", "1", "include", "show"})
_IGNORED = {ord(c): None for c in " _-"}


def normalise_name(name: str) -> str:
    """The form in which placeholder names are compared: ``"First Name"`` → ``"firstname"``."""
    return name.translate(_IGNORED).lower()


def _name(body: str) -> str:
    return body.split("??", 1)[0] if "??" in body else body


def placeholder_names(*texts: str | None) -> list[str]:
    """The placeholder names in ``texts`` in order of first appearance, as written,
    one per normalised name (a conditional counts as its flag)."""
    seen: set[str] = set()
    names: list[str] = []
    for text in texts:
        for match in PLACEHOLDER.finditer(text or ""):
            name = _name(match.group(1)).strip()
            key = normalise_name(name)
            if not key:  # ((  )) or ((??text)): no name, so plain text, never required
                continue
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names


class Personalisation:
    """Personalisation values looked up the way Notify matches placeholder names.

    Args:
        values: the request's ``personalisation`` object (JSON values).
    """

    def __init__(self, values: Mapping[str, object] | None) -> None:
        self.values = {normalise_name(str(k)): v for k, v in (values or {}).items()}

    def get(self, name: str) -> object | None:
        """The value for ``name``, or ``None`` when it is missing or null."""
        return self.values.get(normalise_name(name))

    def missing(self, *texts: str | None) -> list[str]:
        """Placeholders of ``texts`` without a value (null counts as missing), in order."""
        return [name for name in placeholder_names(*texts) if self.get(name) is None]


def as_text(value: object, *, list_style: str) -> str:
    """A personalisation value as text. ``list_style``: ``markdown`` (a bullet list on
    its own lines) or ``prose`` (``a, b and c``)."""
    if isinstance(value, list | tuple):
        items = [as_text(item, list_style=list_style) for item in value if item is not None]
        if list_style == "markdown":
            return "\n\n" + "\n".join(f"* {item}" for item in items) if items else ""
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + " and " + items[-1]
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def fill(
    text: str,
    personalisation: Personalisation,
    *,
    list_style: str = "markdown",
    escape: Callable[[str], str] = str,
) -> str:
    """``text`` with every placeholder replaced by its value.

    Args:
        list_style: how list values are written (see :func:`as_text`).
        escape: applied to each value (e.g. HTML escaping) before it is inserted.

    A placeholder without a value is left as it is (callers refuse missing
    personalisation first, with :meth:`Personalisation.missing`).
    """

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if not normalise_name(_name(body)):
            return match.group(0)
        if "??" in body:
            flag, conditional = body.split("??", 1)
            value = personalisation.get(flag)
            if value is None:
                return match.group(0)
            return conditional if str(value).strip().lower() in TRUTHY else ""
        value = personalisation.get(body)
        if value is None:
            return match.group(0)
        return escape(as_text(value, list_style=list_style))

    return PLACEHOLDER.sub(replace, text)
