"""Generate the Python code for govplat's protobuf contracts.

Every ``.proto`` file under ``protos/`` is compiled in one in-process run of
``grpc_tools.protoc`` into ``*_pb2.py`` (messages), ``*_pb2.pyi`` (type stubs)
and ``*_pb2_grpc.py`` (gRPC stubs and servicers). By default the output goes to
``libs/contracts/src/``, the source root of the ``govplat-contracts`` package,
where it is committed; ``tests/contract/test_generated_code.py`` fails when the
committed code no longer matches a fresh generation.

Each generated package directory gets an empty ``__init__.py``, except the
top-level ``govplat/`` directory, which stays a namespace package.

Usage::

    python scripts/gen_protos.py            # regenerate libs/contracts/src/
    python scripts/gen_protos.py --out DIR  # generate somewhere else

Only the standard library and ``grpcio-tools`` are needed. The output depends
only on the ``.proto`` files and the ``grpcio-tools`` version, so running the
script twice gives identical bytes.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

import grpc_tools
from grpc_tools import protoc

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
"""The monorepo root: this script lives in ``<root>/scripts/``."""

PROTOS_DIR = REPO_ROOT / "protos"
"""Where the ``.proto`` sources live; also the import root (``-I``)."""

DEFAULT_OUT_DIR = REPO_ROOT / "libs" / "contracts" / "src"
"""Where generated code is written and committed by default."""

ROOT_PACKAGE = "govplat"
"""Top-level package of all generated code; kept a namespace package."""

GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
"""File-name endings of the files protoc writes."""

INIT_FILE = "__init__.py"


def well_known_include_dir() -> pathlib.Path:
    """Return grpc_tools' bundled include dir holding ``google/protobuf/*.proto``."""
    return pathlib.Path(grpc_tools.__file__).resolve().parent / "_proto"


def proto_files(protos_dir: pathlib.Path = PROTOS_DIR) -> list[pathlib.Path]:
    """Return every ``.proto`` file under ``protos_dir``, sorted by relative path."""
    return sorted(protos_dir.rglob("*.proto"), key=lambda p: p.relative_to(protos_dir).as_posix())


def is_generated(path: pathlib.Path) -> bool:
    """Tell whether ``path`` is a file this script writes (code or ``__init__.py``)."""
    return path.name == INIT_FILE or path.name.endswith(GENERATED_SUFFIXES)


def clean(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Remove previously generated files under ``out_dir/govplat``.

    Deletes the ``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py`` and ``__init__.py``
    files, then any directory left with nothing but a ``__pycache__``, so code
    for deleted ``.proto`` files leaves nothing behind. Anything else (such as
    ``govplat/py.typed``) is kept. Returns the removed files, sorted.
    """
    root = out_dir / ROOT_PACKAGE
    if not root.is_dir():
        return []
    removed = sorted(p for p in root.rglob("*") if p.is_file() and is_generated(p))
    for path in removed:
        path.unlink()
    # Deepest directories first, so emptied parents are seen as empty too.
    directories = sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True)
    for directory in directories:
        if directory.name == "__pycache__" or not directory.exists():
            continue
        if all(child.name == "__pycache__" for child in directory.iterdir()):
            shutil.rmtree(directory)
    return removed


def generate(out_dir: pathlib.Path, protos_dir: pathlib.Path = PROTOS_DIR) -> list[pathlib.Path]:
    """Generate Python code for every ``.proto`` under ``protos_dir`` into ``out_dir``.

    Previously generated files under ``out_dir/govplat`` are removed first (see
    :func:`clean`). Every directory below ``govplat/`` that holds generated code
    gets an empty ``__init__.py``; ``govplat/`` itself gets none.

    Returns every file written, sorted. Raises ``FileNotFoundError`` when there
    are no ``.proto`` files and ``RuntimeError`` when protoc fails (its
    messages go to stderr).
    """
    protos_dir = protos_dir.resolve()
    out_dir = out_dir.resolve()
    sources = proto_files(protos_dir)
    if not sources:
        raise FileNotFoundError(f"no .proto files under {protos_dir}")

    out_dir.mkdir(parents=True, exist_ok=True)
    clean(out_dir)

    args = [
        "grpc_tools.protoc",  # argv[0]: protoc ignores it
        f"-I{protos_dir}",
        f"-I{well_known_include_dir()}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(source) for source in sources),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with exit status {status}")

    root = out_dir / ROOT_PACKAGE
    generated = [p for p in root.rglob("*") if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)]
    for package_dir in sorted({d for p in generated for d in _packages_below_root(p.parent, root)}):
        init = package_dir / INIT_FILE
        init.write_bytes(b"")
        generated.append(init)
    return sorted(generated)


def _packages_below_root(directory: pathlib.Path, root: pathlib.Path) -> list[pathlib.Path]:
    """Return ``directory`` and its ancestors strictly below ``root``."""
    return [d for d in (directory, *directory.parents) if d != root and d.is_relative_to(root)]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: regenerate into ``--out`` (default ``libs/contracts/src``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=DEFAULT_OUT_DIR,
        help="output source root (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        written = generate(args.out)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"gen_protos: {error}", file=sys.stderr)
        return 1
    sources = len(proto_files())
    print(f"gen_protos: {len(written)} files from {sources} .proto files into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
