"""The modules setup.py compiles with mypyc, and whether their compiled form matches the source.

With an editable install the compiled modules sit beside their sources and are imported in
their place; after a source changes, its old compiled form would still be what runs, so the
test session refuses to start until `make install` has compiled it again.
"""

from __future__ import annotations

import ast
import importlib.machinery
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.support import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parent.parent


def compiled_sources() -> list[Path]:
    """The sources named in setup.py's COMPILED list."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            return [ROOT / path for path in ast.literal_eval(node.value)]
    raise LookupError("setup.py has no COMPILED list")


def module_name(source: Path) -> str:
    return ".".join(source.relative_to(ROOT / "src").with_suffix("").parts)


def built_beside(source: Path) -> list[Path]:
    """The compiled forms of `source` that the import system would take before it."""
    return [
        source.with_name(source.stem + suffix)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if source.with_name(source.stem + suffix).exists()
    ]


def stale(src: Path = ROOT / "src", listed: Iterable[Path] | None = None) -> list[Path]:
    """Sources under `src` whose compiled form beside them would run instead of them: built
    before the source last changed, or left from a build whose list (`listed`, by default
    setup.py's) no longer names the source."""
    named = set(compiled_sources() if listed is None else listed)
    found = set()
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for built in src.rglob(f"*{suffix}"):
            source = built.with_name(built.name.removesuffix(suffix) + ".py")
            if source.exists() and (
                source not in named or source.stat().st_mtime > built.stat().st_mtime
            ):
                found.add(source)
    return sorted(found)


def require_compiled() -> None:
    """Skip (fail under YIPAN_REQUIRE_SERVICES=1) where the install did not compile them."""
    missing = [source.name for source in compiled_sources() if not built_beside(source)]
    if not missing:
        return
    reason = (
        f"{', '.join(missing)} not compiled: installed with YIPAN_PURE_PYTHON=1 or without a C "
        "compiler and the Python headers (setup.py)"
    )
    if REQUIRE_SERVICES:
        pytest.fail(f"YIPAN_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)
