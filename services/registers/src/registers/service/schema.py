"""Registers' definitions: the system registers and each register's fields.

As in GOV.UK Registers, registers describe themselves:

- the ``datatype`` register lists the datatypes (:data:`registers.datatypes.DATATYPES`);
- the ``field`` register defines every field (datatype, cardinality, the register
  it links to);
- the ``register`` register defines every register (its text, registry, phase,
  copyright and fields). Appending a record to it creates that register, or
  changes its fields; the register then carries its definition as **system
  entries**: ``name``, ``register:<name>`` and ``field:<field>`` for each field
  (openregister-java's metadata entries, outside the Merkle tree).

:func:`ensure_system_registers` creates the three system registers on a new database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from registers import hashing, repository
from registers.datatypes import DATATYPES, NAME, FieldDefinition
from registers.errors import not_found

#: Entry time of the system registers' own records, fixed so that the same code
#: always gives the same root hashes.
SYSTEM_TIMESTAMP = "2026-01-01T00:00:00Z"
REGISTRY = "govplat"
PHASE = "beta"

SYSTEM_FIELDS = [
    FieldDefinition("register", "string", register="register", text="The name of a register."),
    FieldDefinition("text", "text", text="A description, in Markdown."),
    FieldDefinition("registry", "string", text="The organisation that keeps a register."),
    FieldDefinition("phase", "string", text="The phase of a register: alpha, beta or live."),
    FieldDefinition("copyright", "text", text="The copyright and licence of a register's data."),
    FieldDefinition(
        "fields", "string", cardinality="n", register="field", text="The fields of a register."
    ),
    FieldDefinition("field", "string", register="field", text="The name of a field."),
    FieldDefinition("datatype", "string", register="datatype", text="The name of a datatype."),
    FieldDefinition("cardinality", "string", text="1 for one value, n for a list of values."),
]

SYSTEM_REGISTERS = {
    "datatype": ("The datatypes of the fields of registers.", ["datatype", "phase", "text"]),
    "field": (
        "The fields of registers.",
        ["field", "datatype", "phase", "register", "cardinality", "text"],
    ),
    "register": (
        "The registers of this platform.",
        ["register", "text", "registry", "phase", "copyright", "fields"],
    ),
}


@dataclass(frozen=True)
class Schema:
    """What a register's items may hold (from its system entries).

    Attributes:
        name: the register (and its key field).
        fields: field name → definition, in the register's order.
        record: the register's item in the ``register`` register.
        system: system entry key → item digests (the current metadata).
    """

    name: str
    fields: dict[str, FieldDefinition]
    record: dict
    system: dict[str, tuple[bytes, ...]]

    @property
    def field_names(self) -> list[str]:
        """The register's fields, in order."""
        return list(self.fields)


def register_item(
    name: str, text: str, fields: list[str], *, registry: str = REGISTRY, copyright: str = ""
) -> dict:
    """A record of the ``register`` register."""
    item = {
        "register": name,
        "text": text,
        "registry": registry,
        "phase": PHASE,
        "fields": fields,
    }
    if copyright:
        item["copyright"] = copyright
    return item


async def load_schema(session: AsyncSession, context, reg) -> Schema:
    """The fields of register row ``reg``, cached in ``context`` until its metadata changes.

    Raises:
        RegisterError: 404 when the register has no definition yet.
    """
    cached = context.schemas.get(reg.name)
    if cached is not None and cached[0] == reg.system_entries:
        return cached[1]
    rows = await repository.latest_system_entries(session, reg.id)
    system = {row.key: tuple(hashing.split_digests(bytes(row.item_digests))) for row in rows}
    contents = await repository.find_items(
        session, reg.id, [d for digests in system.values() for d in digests]
    )

    def first_item(key: str) -> dict | None:
        digests = system.get(key)
        return json.loads(contents[digests[0]]) if digests else None

    record = first_item(f"register:{reg.name}")
    if record is None:
        raise not_found(f"the {reg.name} register has no definition", "REGISTER_NOT_FOUND")
    fields = {}
    for field_name in record.get("fields", []):
        definition = first_item(f"field:{field_name}")
        fields[field_name] = (
            FieldDefinition.from_item(definition)
            if definition
            else FieldDefinition(field_name, "string")
        )
    schema = Schema(reg.name, fields, record, system)
    context.schemas[reg.name] = (reg.system_entries, schema)
    return schema


async def apply_definition(
    session: AsyncSession,
    name: str,
    record: dict,
    field_items: dict[str, dict],
    timestamp: str,
) -> bool:
    """Make register ``name`` match its definition: create it if needed and append the
    system entries (``name``, ``register:<name>``, ``field:<f>``) that differ from its
    current metadata. Returns whether anything changed."""
    reg = await repository.get_register(session, name, lock=True)
    if reg is None:
        await repository.insert_register(session, name, utcnow())
        reg = await repository.get_register(session, name, lock=True)
    current = {
        row.key: bytes(row.item_digests)
        for row in await repository.latest_system_entries(session, reg.id)
    }
    wanted = [("name", {"name": name}), (f"register:{name}", record)]
    wanted += [(f"field:{f}", field_items[f]) for f in record["fields"]]
    keys, items = [], {}
    number = reg.system_entries
    for key, content in wanted:
        canonical = hashing.canonical_json(content)
        digest = hashing.item_digest(canonical)
        if current.get(key) == digest:
            continue
        items[digest] = canonical
        keys.append((key, digest))
    if not keys:
        return False
    await repository.insert_items(
        session, reg.id, repository.Packed(b"".join(items), 32), list(items.values())
    )
    numbers = list(range(number + 1, number + len(keys) + 1))
    await repository.insert_entries(
        session,
        "system",
        reg.id,
        numbers,
        [key for key, _ in keys],
        [timestamp] * len(keys),
        repository.Packed(b"".join(digest for _, digest in keys), 32),
    )
    number = numbers[-1]
    await repository.update_register(session, reg.id, system_entries=number)
    return True


def check_definition(register: str, item: dict) -> str | None:
    """Rules of the system registers beyond datatypes (``None`` when ``item`` is fine):
    a field's datatype is a known one and its cardinality ``1`` or ``n``; a register's
    name is ``[a-z][a-z0-9-]*`` and its fields include its key field."""
    if register == "field":
        if not NAME.match(item.get("field", "")):
            return "a field name is lower-case letters, digits and '-', starting with a letter"
        if item.get("datatype") not in DATATYPES:
            return f"datatype must be one of {', '.join(DATATYPES)}"
        if item.get("cardinality", "1") not in ("1", "n"):
            return "cardinality must be 1 or n"
        link = item.get("register")
        if link is not None and not NAME.match(link):
            return "register must be a register name"
    if register == "register":
        name = item.get("register", "")
        if not NAME.match(name):
            return "a register name is lower-case letters, digits and '-', starting with a letter"
        fields = item.get("fields")
        if not isinstance(fields, list) or name not in fields:
            return f"the fields of the {name} register must include {name!r}, its key"
        if len(set(fields)) != len(fields):
            return "a register lists each field once"
    if register == "datatype" and item.get("datatype") not in DATATYPES:
        return f"this platform validates only the datatypes {', '.join(DATATYPES)}"
    return None


def system_records() -> dict[str, list[tuple[str, dict]]]:
    """The records of the system registers: register name → ``(key, item)`` list."""
    fields = {f.name: f for f in SYSTEM_FIELDS}
    return {
        "datatype": [
            (name, {"datatype": name, "phase": PHASE, "text": text})
            for name, text in DATATYPES.items()
        ],
        "field": [(f.name, f.item(PHASE)) for f in fields.values()],
        "register": [
            (name, register_item(name, text, field_names))
            for name, (text, field_names) in SYSTEM_REGISTERS.items()
        ],
    }


async def ensure_system_registers(session: AsyncSession) -> bool:
    """Define the ``datatype``, ``field`` and ``register`` registers on a new database
    (their metadata only; their records are appended by the caller). Returns whether
    anything was created."""
    field_items = {f.name: f.item(PHASE) for f in SYSTEM_FIELDS}
    changed = False
    for name, (text, field_names) in SYSTEM_REGISTERS.items():
        record = register_item(name, text, field_names)
        changed |= await apply_definition(session, name, record, field_items, SYSTEM_TIMESTAMP)
    return changed


async def get_register_or_404(session: AsyncSession, name: str, *, lock: bool = False):
    """The register row, or a 404 in OpenRegister's style."""
    reg = await repository.get_register(session, name, lock=lock) if NAME.match(name) else None
    if reg is None:
        raise not_found(f"there is no register named {name[:64]!r}", "REGISTER_NOT_FOUND")
    return reg
