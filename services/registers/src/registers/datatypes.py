"""Fields, datatypes and the validation of items against a register's fields.

The datatypes are OpenRegister's (specification ``datatypes.md``; openregister-java
``core/datatype/*``; ``point`` and ``polygon`` from v2): every value is a JSON
string, or an array of strings for a field of cardinality ``n``.

=========  ===============================================================
datatype   a valid value
=========  ===============================================================
string     any non-empty string
text       any non-empty string (Markdown)
integer    ``-?[1-9][0-9]*`` or ``0``
datetime   ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm:ss``, optional ``Z``
url        an absolute URL with a scheme and a host
curie      ``prefix:reference`` whose prefix is a register name; a bare key when the
           field links to a register
period     an ISO 8601 duration (``P1Y2M``) or interval (``start/end``, ``start/P1D``,
           ``P1D/end``)
point      ``[x, y]`` (decimal degrees)
polygon    JSON ``[[[x, y], ...]]``: rings of at least four points, each closed
hash       ``sha-256:`` and 64 lower-case hex digits
=========  ===============================================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import AnyUrl, TypeAdapter, ValidationError

DATATYPES: dict[str, str] = {
    "string": "A string of Unicode characters.",
    "text": "Text, which may contain Markdown.",
    "integer": "A whole number, in decimal, without leading zeros.",
    "datetime": "A date and time in UTC (ISO 8601), to year, month, day or second.",
    "url": "An absolute URL.",
    "curie": "A compact URI: a register name, a colon and a key of that register.",
    "period": "An ISO 8601 duration or time interval.",
    "point": "A point as [longitude, latitude] in decimal degrees.",
    "polygon": "A polygon as a JSON array of closed rings of [longitude, latitude] points.",
    "hash": "A SHA-256 hash: 'sha-256:' and 64 lower-case hexadecimal digits.",
}
#: Register names (and so field names that are register keys): OpenRegister's
#: ``[a-z][a-z0-9-]*``, at most 64 characters.
NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_INTEGER = re.compile(r"^(?:-?[1-9][0-9]*|0)$")
_DATETIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?)?)?Z?$", re.ASCII
)
_DURATION = re.compile(
    r"^P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$",
    re.ASCII,
)
_DECIMAL = r"-?\d+(?:\.\d+)?"
_POINT = re.compile(rf"^\[\s*{_DECIMAL}\s*,\s*{_DECIMAL}\s*\]$", re.ASCII)
_HASH = re.compile(r"^sha-256:[0-9a-f]{64}$")
_URL = TypeAdapter(AnyUrl)


@dataclass(frozen=True)
class FieldDefinition:
    """A field of the ``field`` register.

    Attributes:
        name: the field's name (``[a-z][a-z0-9-]*``).
        datatype: one of :data:`DATATYPES`.
        cardinality: ``"1"`` (a string) or ``"n"`` (an array of strings).
        register: the register whose keys the field holds, or ``""``.
        text: what the field means.
    """

    name: str
    datatype: str
    cardinality: str = "1"
    register: str = ""
    text: str = ""

    def item(self, phase: str = "beta") -> dict:
        """The field's item in the ``field`` register."""
        item = {
            "field": self.name,
            "datatype": self.datatype,
            "cardinality": self.cardinality,
            "phase": phase,
            "text": self.text or self.name,
        }
        if self.register:
            item["register"] = self.register
        return item

    @classmethod
    def from_item(cls, item: dict) -> FieldDefinition:
        """The field an item of the ``field`` register defines."""
        return cls(
            name=item["field"],
            datatype=item.get("datatype", "string"),
            cardinality=item.get("cardinality", "1"),
            register=item.get("register", ""),
            text=item.get("text", ""),
        )


def _datetime_ok(value: str) -> bool:
    match = _DATETIME.match(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = match.groups()
    try:
        if hour is not None:
            datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        elif day is not None:
            date(int(year), int(month), int(day))
        elif month is not None:
            date(int(year), int(month), 1)
    except ValueError:
        return False
    return True


def _period_ok(value: str) -> bool:
    if "/" not in value:
        return _DURATION.match(value) is not None
    start, _, end = value.partition("/")
    if _DURATION.match(start):
        return _datetime_ok(end)
    return _datetime_ok(start) and (_datetime_ok(end) or _DURATION.match(end) is not None)


def _polygon_ok(value: str) -> bool:
    try:
        rings = json.loads(value)
    except (ValueError, RecursionError):
        return False
    if not isinstance(rings, list) or not rings:
        return False
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
            return False
        for point in ring:
            if not (
                isinstance(point, list)
                and len(point) == 2
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
            ):
                return False
    return True


def _url_ok(value: str) -> bool:
    try:
        url = _URL.validate_python(value)
    except ValidationError:
        return False
    return bool(url.host) and value == value.strip()


def check_value(field: FieldDefinition, value: str) -> str | None:
    """Why ``value`` is not valid for ``field`` (a sentence), or ``None`` when it is."""
    if value == "":
        return "must not be empty (leave the field out instead)"
    datatype = field.datatype
    if datatype in ("string", "text"):
        ok = True
    elif datatype == "integer":
        ok = _INTEGER.match(value) is not None
    elif datatype == "datetime":
        ok = _datetime_ok(value)
    elif datatype == "url":
        ok = _url_ok(value)
    elif datatype == "curie":
        prefix, colon, reference = value.partition(":")
        if not colon:
            ok = bool(field.register)
        else:
            ok = NAME.match(prefix) is not None and reference != "" and ":" not in reference
    elif datatype == "period":
        ok = _period_ok(value)
    elif datatype == "point":
        ok = _POINT.match(value) is not None
    elif datatype == "polygon":
        ok = _polygon_ok(value)
    elif datatype == "hash":
        ok = _HASH.match(value) is not None
    else:
        ok = True
    return None if ok else f"is not a valid {datatype}"


def plain_fields(fields: dict[str, FieldDefinition]) -> frozenset[str]:
    """The fields for which any non-empty string is a valid value (``string`` and
    ``text`` of cardinality 1): an item holding only such values, its key among them,
    is valid without looking further (:func:`check_item` agrees)."""
    return frozenset(
        name
        for name, field in fields.items()
        if field.cardinality != "n" and field.datatype in ("string", "text")
    )


def check_item(register: str, fields: dict[str, FieldDefinition], item: dict) -> str | None:
    """Why ``item`` is not a valid item of ``register``, or ``None`` when it is.

    An item may only have the register's fields, must have its key field (named
    after the register), and each value must satisfy its field's datatype and
    cardinality (openregister-java ``ItemValidator``).
    """
    if register not in item:
        return f"the item has no {register!r} field (the register's key)"
    for name, value in item.items():
        field = fields.get(name)
        if field is None:
            return f"field {name!r} is not a field of the {register} register"
        if field.cardinality == "n":
            if not isinstance(value, list) or not value:
                return (
                    f"field {name!r} has cardinality n: its value must be a non-empty array "
                    "of strings"
                )
            values = value
        else:
            if not isinstance(value, str):
                return f"field {name!r} has cardinality 1: its value must be a string"
            values = [value]
        for one in values:
            problem = check_value(field, one)
            if problem is not None:
                return f"field {name!r}: {one[:80]!r} {problem}"
    return None
