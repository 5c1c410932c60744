"""Checking a register's stored data against its hashes and its signed tree heads.

:func:`verify_register` reads every user entry in order (in chunks, never the whole
register in memory) and recomputes everything from the entries and items alone:

- each item's hash from its stored JSON (and that the JSON is canonical);
- each entry's Merkle leaf, compared with the stored leaf hash;
- every perfect subtree, compared with the stored one;
- the root at each signed tree head's size, compared with that checkpoint, whose
  signature is checked with the checkpoint key;
- each record's pointer to its key's latest entry.

Every difference is reported with the entry numbers it concerns, so that an edit
of any stored row (an item, an entry, a tree node, a tree head) is found and named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from registers import checkpoints, hashing, merkle, repository
from registers.service import schema as schemas

CHUNK = 5000


@dataclass
class Report:
    """What :func:`verify_register` found: ``problems`` (sentences naming entries),
    ``tree_size``, the recomputed ``root`` and the checkpoints checked."""

    register: str
    tree_size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing was found."""
        return not self.problems


async def verify_register(context, name: str, verifier_key: str | None = None) -> Report:
    """Recompute register ``name`` from its entries and compare (module docstring).

    Args:
        verifier_key: the published checkpoint key (``name+id+key``); default: this
            service's own key.

    Raises:
        RegisterError: 404 for an unknown register.
    """
    if verifier_key is None:
        verifier_key = (await context.signer()).verifier_key
    report = Report(name)
    async with context.db.read() as session:
        reg = await schemas.get_register_or_404(session, name)
        heads = {head.tree_size: head for head in await repository.tree_heads(session, reg.id)}
        report.tree_size = reg.tree_size
        edge = merkle.CompactRange(0, [])
        latest: dict[str, int] = {}
        last_good = 0
        wrong: list[int] = []  # first leaf index of each Merkle hash reported
        for start in range(1, reg.tree_size + 1, CHUNK):
            stop = min(start + CHUNK, reg.tree_size + 1)
            rows = await repository.get_entries(session, reg.id, start, stop)
            numbers = [row.entry_number for row in rows]
            if numbers != list(range(start, stop)):
                missing = sorted(set(range(start, stop)) - set(numbers))
                report.problems.append(f"entries {_span(missing)} are missing")
                return report
            digests = [d for row in rows for d in hashing.split_digests(bytes(row.item_digests))]
            contents = await repository.find_items(session, reg.id, digests)
            created: list[tuple[int, int, bytes, int]] = []
            for row in rows:
                _check_items(report, row, contents)
                leaf = merkle.leaf_hash(
                    hashing.entry_leaf(
                        row.entry_number,
                        row.timestamp,
                        row.key,
                        hashing.split_digests(bytes(row.item_digests)),
                    )
                )
                created.extend((lv, ix, h, row.entry_number) for lv, ix, h in edge.append(leaf))
                latest[row.key] = row.entry_number
                head = heads.get(edge.size)
                if head is not None:
                    if _check_head(report, head, edge.root(), verifier_key, name, last_good):
                        last_good = edge.size
            stored = await repository.get_nodes(
                session, reg.id, [(lv, ix) for lv, ix, _, _ in created]
            )
            for level, index, digest, number in created:
                if stored.get((level, index)) != digest:
                    first, last = index << level, ((index + 1) << level)
                    if any(first <= bad < last for bad in wrong):
                        continue  # an ancestor of a node already reported
                    wrong.append(first)
                    where = (
                        f"entry {number}"
                        if level == 0
                        else f"entries {first + 1}-{last} (tree node at level {level})"
                    )
                    report.problems.append(
                        f"{where}: the stored Merkle hash does not match the entries"
                    )
        report.root = edge.root()
        beyond = sorted(size for size in heads if size > reg.tree_size)
        if beyond:
            report.problems.append(
                f"entries {reg.tree_size + 1}-{beyond[-1]} are missing: a checkpoint of size "
                f"{beyond[-1]} was signed, the register holds {reg.tree_size} entries"
            )
        await _check_records(session, report, reg, latest)
    return report


def _span(numbers: list[int]) -> str:
    return f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]}..{numbers[-1]}"


def _check_items(report: Report, row, contents: dict[bytes, str]) -> None:
    for digest in hashing.split_digests(bytes(row.item_digests)):
        content = contents.get(digest)
        if content is None:
            report.problems.append(
                f"entry {row.entry_number}: its item {hashing.format_hash(digest)} is missing"
            )
            continue
        if hashing.item_digest(content) != digest:
            report.problems.append(
                f"entry {row.entry_number}: its item {hashing.format_hash(digest)} was changed "
                "(the stored JSON no longer has that hash)"
            )
            continue
        try:
            canonical = hashing.canonical_json(json.loads(content))
        except (ValueError, hashing.ItemError):
            canonical = ""
        if canonical != content:
            report.problems.append(
                f"entry {row.entry_number}: its item {hashing.format_hash(digest)} "
                "is not canonical JSON"
            )


def _check_head(report: Report, head, root: bytes, verifier_key: str, name: str, after: int):
    report.checkpoints += 1
    size = head.tree_size
    span = f"entries {after + 1}-{size}"
    if bytes(head.root_hash) != root:
        report.problems.append(
            f"{span}: the tree head of size {size} has another root hash than the entries"
        )
        return False
    try:
        checkpoint = checkpoints.verify(head.note, verifier_key)
    except checkpoints.CheckpointError as exc:
        report.problems.append(f"the checkpoint of size {size} does not verify: {exc}")
        return False
    if (
        checkpoint.size != size
        or checkpoint.root != root
        or not checkpoint.origin.endswith(f"/{name}")
    ):
        report.problems.append(
            f"{span}: the signed checkpoint of size {size} does not match the entries"
        )
        return False
    return True


async def _check_records(session, report: Report, reg, latest: dict[str, int]) -> None:
    keys = list(latest)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        found = await repository.find_records(session, reg.id, chunk)
        for key in chunk:
            stored = found.get(key)
            if stored is None or stored[1] != latest[key]:
                report.problems.append(
                    f"entry {latest[key]}: the record {key!r} does not point at it, its latest entry"
                )
    if len(keys) != reg.total_records:
        report.problems.append(
            f"the register counts {reg.total_records} records, the entries have {len(keys)} keys"
        )
