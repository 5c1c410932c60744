"""GOV.UK Pay's request rules, in Pay's order and words (pay-publicapi's validators).

Only the first problem is reported, as Pay does. A missing field, a value of the wrong
JSON type or illegal characters are 400; a value out of range or too long is 422.
Unknown top-level fields are ignored, as Pay ignores them.

- ``amount``: a JSON integer (never a string, a float such as ``1000.0`` or a boolean),
  1 to 10,000,000 pence.
- ``reference`` and ``description``: text of 1 to 255 characters, without ``<``, ``>`` or ``|``.
- ``return_url``: required for ``web`` payments, at most 2,000 characters, a web
  address (:func:`web_address`); ``https://`` for live accounts.
- ``email``: at most 254 characters (Pay does not check its form).
- ``language``: ``en`` or ``cy`` (a string: ``false`` or ``{}`` is not English).
- ``authorisation_mode``: ``web``, ``moto_api`` or ``agreement``.
- ``metadata``: 1 to 15 keys of 1 to 30 characters (unique ignoring case), values
  strings (at most 100 characters), numbers or booleans.
- ``set_up_agreement`` and ``agreement_id``: 26 characters; one that is not a Pay id
  (26 lower-case letters and digits) cannot exist and gets the unknown agreement's error at once.
- No text holds a NUL character (PostgreSQL cannot store one).
- ``delayed_capture`` and ``moto``: booleans.
- ``prefilled_cardholder_details``: ``cardholder_name`` and a ``billing_address`` of
  ``line1``, ``line2``, ``city`` (each at most 255), ``postcode`` (25) and ``country``.
- ``Idempotency-Key``: 1 to 255 letters, digits and hyphens.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from payments.errors import PayError, invalid, missing, unexpected, unparseable

MAX_AMOUNT = 10_000_000
_ILLEGAL = re.compile(r"[<>|]")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9-]+$")
_ID = re.compile(r"[0-9a-z]{26}")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def parse_json(raw: bytes, *, code: str = "P0197") -> object:
    """A request body as JSON.

    Raises:
        PayError: 400 ``Unable to parse JSON`` (also for NaN, Infinity, numbers too large
            for a float, and lone UTF-16 surrogates, which cannot be stored as text).
    """

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("not finite")
        return value

    def no_constants(_name: str) -> None:
        raise ValueError("NaN and Infinity are not JSON")

    try:
        data = json.loads(raw.decode("utf-8"), parse_float=finite, parse_constant=no_constants)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # lone surrogates fail here
    except (ValueError, UnicodeError, RecursionError):
        raise unparseable(code) from None
    return data


def is_integer(value: object) -> bool:
    """A JSON integer (``True``/``False`` are not, nor is ``1000.0``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def amount_of(data: dict, *, missing_code: str = "P0101", invalid_code: str = "P0102") -> int:
    """``amount``: pence, 1 to 10,000,000.

    Raises:
        PayError: 400 missing or not an integer (or above 2^31, which Pay cannot read);
            422 out of range.
    """
    if "amount" not in data or data["amount"] is None:
        raise missing("amount", missing_code)
    value = data["amount"]
    if not is_integer(value) or not -(2**31) <= value < 2**31:
        raise invalid("amount", "Must be a valid numeric format", status=400, code=invalid_code)
    if value > MAX_AMOUNT:
        raise invalid("amount", f"Must be less than or equal to {MAX_AMOUNT}", code=invalid_code)
    if value < 1:
        raise invalid("amount", "Must be greater than or equal to 1", code=invalid_code)
    return value


def text_of(
    data: dict, field: str, limit: int, *, required: bool, illegal_characters: bool = True
) -> str | None:
    """A text field: 400 when missing (or blank) and required, or not a string, or with
    ``<>|``; 422 when longer than ``limit``."""
    value = data.get(field)
    if value is None:
        if required:
            raise missing(field)
        return None
    if not isinstance(value, str):
        raise invalid(field, "Must be a valid string format", status=400)
    if required and not value.strip():
        raise missing(field)
    if illegal_characters and _ILLEGAL.search(value):
        raise invalid(field, "Must be a valid string format", status=400)
    if len(value) > limit:
        raise invalid(field, f"Must be less than or equal to {limit} characters length")
    if "\x00" in value:
        raise invalid(field, "Must be a valid string format", status=400)
    return value


def boolean_of(data: dict, field: str) -> bool:
    """A JSON boolean field (default false): 400 ``Must be true or false`` otherwise."""
    value = data.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(field, "Must be true or false", status=400)
    return value


@dataclass(frozen=True)
class WebAddress:
    """An ``http``/``https`` URL that a browser or an HTTP client can use as it is.

    Attributes:
        scheme: ``http`` or ``https``.
        host: the host in ASCII (an internationalised name as IDNA ``xn--`` labels; an
            IPv6 address in brackets).
        port: the port when the URL names one (1 to 65535).
        rest: the path, query and fragment as given (non-ASCII characters included).
    """

    scheme: str
    host: str
    port: int | None
    rest: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` in ASCII (a Content-Security-Policy source)."""
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")

    @property
    def ascii(self) -> str:
        """The whole URL in ASCII (a ``Location``): the host as IDNA, other non-ASCII
        characters percent-encoded as UTF-8 (RFC 3987 section 3.1)."""
        return self.origin + "".join(c if c.isascii() else quote(c) for c in self.rest)


def _ascii_host(host: str) -> str | None:
    if host.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]" if host[-1] == "]" else None
        except ValueError:
            return None
    if not host.isascii():
        try:
            encoded = host.encode("idna").decode("ascii")
            # Hosts that IDNA 2003 maps to another name (``ß`` to ``ss``, full-width
            # letters) are refused: browsers (UTS 46) would go elsewhere.
            if encoded.encode("ascii").decode("idna") != host:
                return None
        except UnicodeError:
            return None
        host = encoded
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return host


def web_address(value: str) -> WebAddress | None:
    """``value`` as a :class:`WebAddress`, or ``None`` when it is not one: another
    scheme, no host, a host that is not a DNS name (letters, digits, ``-`` and ``_`` in
    labels of at most 63; internationalised names as IDNA) or an IP address, a port
    outside 1 to 65535, credentials (``user:password@``), whitespace or control
    characters (RFC 3986 section 3)."""
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    netloc = parts.netloc.lower()
    raw_host = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    host = _ascii_host(raw_host) if raw_host else None
    if host is None or (port is not None and not 1 <= port <= 65535):
        return None
    rest = value[len(parts.scheme) + 3 + len(parts.netloc) :]
    return WebAddress(parts.scheme, host, port, rest)


def return_url_of(data: dict, *, live: bool) -> str:
    """``return_url`` of a web payment (:func:`web_address`), as given."""
    value = text_of(data, "return_url", 2000, required=True, illegal_characters=False)
    assert value is not None
    parts = web_address(value)
    if parts is None:
        raise invalid("return_url", "Must be a valid URL format")
    if live and parts.scheme != "https":
        raise PayError(
            "P0920",
            "Invalid attribute value: return_url. Must begin with https:// for a live gateway account",
            status=422,
            field="return_url",
        )
    return value


def metadata_of(data: dict) -> dict | None:
    """``metadata``: a flat object of 1 to 15 keys (1 to 30 characters, unique ignoring
    case) whose values are strings of at most 100 characters, numbers or booleans."""
    if "metadata" not in data or data["metadata"] is None:
        return None
    value = data["metadata"]
    if not isinstance(value, dict):
        raise invalid("metadata", "Must be an object of JSON key-value pairs")
    if not 1 <= len(value) <= 15:
        raise invalid(
            "metadata",
            "Cannot have more than 15 key-value pairs"
            if value
            else "Must have at least 1 key-value pair",
        )
    if len({k.lower() for k in value}) != len(value):
        raise invalid("metadata", "Keys must be unique, ignoring case")
    for key, item in value.items():
        if not 1 <= len(key) <= 30:
            raise invalid("metadata", "Keys must be between 1 and 30 characters long")
        if "\x00" in key:
            raise invalid("metadata", "Keys must not contain NUL characters")
        if item is None or isinstance(item, dict | list):
            raise invalid("metadata", "Values must be of type String, Boolean or Number")
        if isinstance(item, str) and len(item) > 100:
            raise invalid("metadata", "Values must be no greater than 100 characters long")
        if isinstance(item, str) and "\x00" in item:
            raise invalid("metadata", "Values must be of type String, Boolean or Number")
    return value


def prefilled_of(data: dict) -> dict | None:
    """``prefilled_cardholder_details``: ``cardholder_name`` and ``billing_address``."""
    value = data.get("prefilled_cardholder_details")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("prefilled_cardholder_details", "Must be an object", status=400)
    out: dict = {}
    name = text_of(value, "cardholder_name", 255, required=False, illegal_characters=False)
    if name is not None:
        out["cardholder_name"] = name
    address = value.get("billing_address")
    if address is not None:
        if not isinstance(address, dict):
            raise invalid("billing_address", "Must be an object", status=400)
        lines = {}
        for field, limit in (
            ("line1", 255),
            ("line2", 255),
            ("city", 255),
            ("postcode", 25),
            ("country", 2),
        ):
            text = text_of(
                address,
                field,
                limit if field != "country" else 255,
                required=False,
                illegal_characters=False,
            )
            if text is not None:
                lines[field] = text
        out["billing_address"] = lines
    return out or None


def idempotency_key_of(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header, checked.

    Raises:
        PayError: 422 ``P0102`` naming the header.
    """
    if value is None:
        return None
    if not 1 <= len(value) <= 255:
        raise PayError(
            "P0102",
            "Header [Idempotency-Key] can have a size between 1 and 255",
            status=422,
            header="Idempotency-Key",
        )
    if not _IDEMPOTENCY_KEY.match(value):
        raise PayError(
            "P0102",
            "Header [Idempotency-Key] can only contain alphanumeric characters and hyphens",
            status=422,
            header="Idempotency-Key",
        )
    return value


def resource_id(value: str) -> str | None:
    """A Pay id as given in a path (26 lower-case base32 characters), or ``None``."""
    return value if _ID.fullmatch(value or "") else None


@dataclass(frozen=True)
class NewPayment:
    """A create-payment request that passed Pay's rules."""

    amount: int
    reference: str
    description: str
    return_url: str | None
    email: str | None
    language: str
    metadata: dict | None
    delayed_capture: bool
    moto: bool
    authorisation_mode: str
    agreement_id: str | None
    set_up_agreement: str | None
    agreement_payment_type: str | None
    prefilled: dict | None


def new_payment(data: object, *, live: bool) -> NewPayment:
    """Check a create-payment body.

    Raises:
        PayError: the first problem, with Pay's code, status and text.
    """
    if not isinstance(data, dict):
        raise unparseable()
    mode = data.get("authorisation_mode")
    if mode is None:
        mode = "web"
    if not isinstance(mode, str) or mode not in ("web", "moto_api", "agreement"):
        raise invalid(
            "authorisation_mode", 'Must be one of "web", "agreement" or "moto_api"', status=400
        )
    amount = amount_of(data)
    reference = text_of(data, "reference", 255, required=True)
    description = text_of(data, "description", 255, required=True)
    if mode == "web":
        return_url = return_url_of(data, live=live)
    else:
        if data.get("return_url") is not None:
            raise unexpected("return_url")
        return_url = None
    email = text_of(data, "email", 254, required=False, illegal_characters=False)
    language = data.get("language")
    if language is None:
        language = "en"
    if not isinstance(language, str) or language not in ("en", "cy"):
        raise invalid("language", 'Must be "en" or "cy"')
    metadata = metadata_of(data)
    delayed_capture = boolean_of(data, "delayed_capture")
    moto = boolean_of(data, "moto")
    agreement_id = data.get("agreement_id")
    set_up = data.get("set_up_agreement")
    payment_type = data.get("agreement_payment_type")
    if mode == "agreement":
        if agreement_id is None:
            raise missing("agreement_id")
        if not isinstance(agreement_id, str) or len(agreement_id) != 26:
            raise invalid("agreement_id", "Must be 26 characters", status=400)
        if delayed_capture:
            raise invalid("delayed_capture", "Must be false for a recurring payment", status=400)
    elif agreement_id is not None:
        raise unexpected("agreement_id")
    if set_up is not None and (not isinstance(set_up, str) or len(set_up) != 26):
        raise invalid("set_up_agreement", "Must be 26 characters", status=400)
    if payment_type is not None:
        if set_up is None and mode != "agreement":
            raise unexpected("agreement_payment_type")
        if payment_type not in ("instalment", "recurring", "unscheduled"):
            raise invalid(
                "agreement_payment_type",
                'Must be one of "instalment", "recurring" or "unscheduled"',
            )
    elif set_up is not None or mode == "agreement":
        payment_type = "recurring"
    prefilled = prefilled_of(data)
    if prefilled is not None and mode == "agreement":
        raise unexpected("prefilled_cardholder_details")
    # Not a Pay id, so no such agreement: the lookup's answers, without the lookup.
    if set_up is not None and resource_id(set_up) is None:
        raise PayError(
            "P0103",
            "Invalid attribute value: set_up_agreement. Agreement ID does not exist",
            status=400,
            field="set_up_agreement",
        )
    if mode == "agreement" and resource_id(agreement_id) is None:
        raise invalid("agreement_id", "Agreement does not exist", status=400)
    return NewPayment(
        amount=amount,
        reference=reference or "",
        description=description or "",
        return_url=return_url,
        email=email,
        language=language,
        metadata=metadata,
        delayed_capture=delayed_capture,
        moto=moto,
        authorisation_mode=mode,
        agreement_id=agreement_id if mode == "agreement" else None,
        set_up_agreement=set_up,
        agreement_payment_type=payment_type,
        prefilled=prefilled,
    )
