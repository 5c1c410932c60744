"""Checks on the protobuf contracts and the Python code generated from them.

The generated code under ``libs/contracts/src/govplat`` is committed. These
tests regenerate it with ``scripts/gen_protos.py`` into a temporary directory
and fail when the committed copy differs, so a ``.proto`` change can't land
without its code. They also check the naming rules that tooling (the event bus
and the gateway) relies on, using the descriptors of the imported modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import re
import shutil
import types

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTOS_DIR = REPO_ROOT / "protos"
CONTRACTS_SRC = REPO_ROOT / "libs" / "contracts" / "src"
COMMITTED_ROOT = CONTRACTS_SRC / "govplat"

IGNORED_NAMES = frozenset({"py.typed", "__pycache__"})
"""Files and directories under ``govplat/`` that are not generated."""

REGENERATE_HINT = "Run `make protos` and commit the regenerated files."

PASCAL_CASE = r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)*"


def _load_generator() -> types.ModuleType:
    """Import ``scripts/gen_protos.py`` by path (``scripts/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "gen_protos", REPO_ROOT / "scripts" / "gen_protos.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator().generate


def tree_files(root: pathlib.Path) -> dict[str, bytes]:
    """Map each file under ``root`` (by relative POSIX path) to its bytes.

    ``py.typed``, ``__pycache__`` directories and ``*.pyc`` files are skipped:
    they are not produced by the generator.
    """
    files: dict[str, bytes] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if IGNORED_NAMES.intersection(relative.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            files[relative.as_posix()] = path.read_bytes()
    return files


def compare_trees(fresh_root: pathlib.Path, committed_root: pathlib.Path) -> list[str]:
    """Describe how ``committed_root`` differs from ``fresh_root``.

    Both are ``govplat/`` directories: one just generated, one to check.
    Returns one line per differing file, sorted; an empty list means the
    committed tree is fresh.
    """
    fresh = tree_files(fresh_root)
    committed = tree_files(committed_root)
    problems = [f"missing (not committed): {name}" for name in fresh.keys() - committed.keys()]
    problems += [
        f"unexpected (no .proto generates it): {name}" for name in committed.keys() - fresh.keys()
    ]
    problems += [
        f"differs from a fresh generation: {name}"
        for name in fresh.keys() & committed.keys()
        if fresh[name] != committed[name]
    ]
    return sorted(problems)


def _proto_names(suffix: str) -> list[str]:
    """Return the protos/-relative paths of ``.proto`` files whose name ends with ``suffix``."""
    return sorted(
        path.relative_to(PROTOS_DIR).as_posix() for path in PROTOS_DIR.rglob(f"*{suffix}")
    )


def _import_generated(proto_name: str) -> types.ModuleType:
    """Import the ``*_pb2`` module generated for ``proto_name`` (installed ``govplat-contracts``)."""
    module_name = proto_name.removesuffix(".proto").replace("/", ".") + "_pb2"
    return importlib.import_module(module_name)


def _all_messages(file) -> list:
    """Return every message descriptor of a file, nested ones included (map entries excluded)."""
    found = []
    pending = list(file.message_types_by_name.values())
    while pending:
        message = pending.pop(0)
        if not message.GetOptions().map_entry:
            found.append(message)
        pending.extend(message.nested_types)
    return found


def _domain_of(proto_name: str) -> str:
    """Return the domain of a ``govplat/<domain>/v1/<file>.proto`` path."""
    return proto_name.split("/")[1]


def test_committed_generated_code_matches_a_fresh_generation(tmp_path: pathlib.Path) -> None:
    generate(tmp_path)

    problems = compare_trees(tmp_path / "govplat", COMMITTED_ROOT)

    assert not problems, (
        "The committed generated code in libs/contracts/src/govplat is stale:\n  "
        + "\n  ".join(problems)
        + f"\n{REGENERATE_HINT}"
    )


def test_generating_twice_gives_identical_bytes(tmp_path: pathlib.Path) -> None:
    first = generate(tmp_path / "first")
    second = generate(tmp_path / "second")

    assert [p.relative_to(tmp_path / "first") for p in first] == [
        p.relative_to(tmp_path / "second") for p in second
    ]
    assert compare_trees(tmp_path / "first" / "govplat", tmp_path / "second" / "govplat") == []


def test_a_changed_proto_makes_the_old_generated_code_stale(tmp_path: pathlib.Path) -> None:
    generate(tmp_path / "before")
    protos = tmp_path / "protos"
    shutil.copytree(PROTOS_DIR, protos)
    changed = protos / "govplat" / "payments" / "v1" / "events.proto"
    changed.write_text(changed.read_text() + "\n// Added by the test.\nmessage StaleCheck {}\n")

    generate(tmp_path / "after", protos_dir=protos)
    problems = compare_trees(tmp_path / "after" / "govplat", tmp_path / "before" / "govplat")

    assert problems == [
        "differs from a fresh generation: payments/v1/events_pb2.py",
        "differs from a fresh generation: payments/v1/events_pb2.pyi",
    ]


def test_a_deleted_proto_leaves_its_generated_code_reported_as_unexpected(
    tmp_path: pathlib.Path,
) -> None:
    generate(tmp_path / "before")
    protos = tmp_path / "protos"
    shutil.copytree(PROTOS_DIR, protos)
    (protos / "govplat" / "registers" / "v1" / "events.proto").unlink()

    generate(tmp_path / "after", protos_dir=protos)
    problems = compare_trees(tmp_path / "after" / "govplat", tmp_path / "before" / "govplat")

    assert problems == [
        f"unexpected (no .proto generates it): registers/v1/events_pb2{suffix}"
        for suffix in (".py", ".pyi", "_grpc.py")
    ]


def test_regenerating_removes_code_of_deleted_protos_but_keeps_py_typed(
    tmp_path: pathlib.Path,
) -> None:
    generate(tmp_path)
    (tmp_path / "govplat" / "py.typed").write_bytes(b"")
    leftover = tmp_path / "govplat" / "retired" / "v1"
    leftover.mkdir(parents=True)
    for name in ("__init__.py", "old_pb2.py", "old_pb2.pyi", "old_pb2_grpc.py"):
        (leftover / name).write_bytes(b"# stale\n")

    generate(tmp_path)

    assert not (tmp_path / "govplat" / "retired").exists()
    assert (tmp_path / "govplat" / "py.typed").exists()


def test_every_generated_package_has_an_init_except_the_govplat_namespace(
    tmp_path: pathlib.Path,
) -> None:
    written = generate(tmp_path)
    root = tmp_path / "govplat"

    package_dirs = {path.parent for path in written}
    assert not (root / "__init__.py").exists()
    assert root not in package_dirs
    for directory in package_dirs:
        assert (directory / "__init__.py").read_bytes() == b""
        for parent in directory.relative_to(root).parents:
            if parent != pathlib.Path("."):
                assert (root / parent / "__init__.py").exists()


def test_every_domain_has_a_service_proto_and_an_events_proto() -> None:
    service_domains = [_domain_of(name) for name in _proto_names("_service.proto")]
    event_domains = [_domain_of(name) for name in _proto_names("/events.proto")]

    assert service_domains == event_domains == ["identity", "notify", "payments", "registers"]


@pytest.mark.parametrize("proto_name", _proto_names("/events.proto"))
def test_every_event_message_is_named_govplat_domain_v1_pascal_case(proto_name: str) -> None:
    domain = _domain_of(proto_name)
    file = _import_generated(proto_name).DESCRIPTOR

    messages = _all_messages(file)

    assert file.package == f"govplat.{domain}.v1"
    assert messages, f"{proto_name} defines no event messages"
    pattern = re.compile(rf"govplat\.{re.escape(domain)}\.v1\.{PASCAL_CASE}")
    bad = [m.full_name for m in messages if not pattern.fullmatch(m.full_name)]
    assert not bad, (
        f"event messages in {proto_name} not named govplat.{domain}.v1.<PascalCase>: {bad}"
    )


@pytest.mark.parametrize("proto_name", _proto_names("_service.proto"))
def test_every_service_defines_a_get_and_a_list_rpc(proto_name: str) -> None:
    file = _import_generated(proto_name).DESCRIPTOR

    assert file.services_by_name, f"{proto_name} defines no service"
    for service in file.services_by_name.values():
        rpcs = [method.name for method in service.methods]
        assert any(name.startswith("Get") for name in rpcs), f"{service.full_name} has no Get RPC"
        assert any(name.startswith("List") for name in rpcs), f"{service.full_name} has no List RPC"
