"""The pricing engine runs compiled where the install could compile it (setup.py), and prices as
its sources do."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import compiled

# Run first in a subprocess: the sources directory and its packages are read by a finder that
# knows only source files, so the compiled modules beside them are passed over.
_SOURCES_ONLY = f"""
import importlib.machinery as machinery, os, sys
SRC = {str(compiled.ROOT / "src")!r}
def sources_only(path):
    real = os.path.realpath(path)
    if real != SRC and not real.startswith(SRC + os.sep):
        raise ImportError(path)
    return machinery.FileFinder(path, (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES))
sys.path_hooks.insert(0, sources_only)
sys.path_importer_cache.clear()
"""
_PRICE_BENCHMARK_CARTS = """
import json, random
from bench import people
from yipan.promotions.domain import search
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import PromotionIndex
rng = random.Random(7)
shelf = people.make_shelf(rng)
index = PromotionIndex(people.make_promotions(rng, shelf))
carts = [people.make_cart(rng, shelf, index) for _ in range(300)]
print(json.dumps({"file": search.__file__, "priced": [repr(price_cart(c)) for c in carts]}))
"""


@pytest.mark.parametrize("source", compiled.compiled_sources(), ids=compiled.module_name)
def test_the_compiled_form_is_what_is_imported(source: Path) -> None:
    compiled.require_compiled()
    module = importlib.import_module(compiled.module_name(source))
    built = compiled.built_beside(source)
    assert module.__file__ in {str(path) for path in built}


def test_a_source_changed_after_compiling_is_reported_stale() -> None:
    compiled.require_compiled()
    source = compiled.compiled_sources()[0]
    built = compiled.built_beside(source)[0]
    before = built.stat()
    assert source not in compiled.stale()
    try:
        os.utime(built, (before.st_atime, source.stat().st_mtime - 60))
        assert compiled.stale() == [source]
    finally:
        os.utime(built, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source not in compiled.stale()


def test_the_sources_price_every_cart_as_the_compiled_engine_does() -> None:
    """The benchmark's carts (200 promotions, 5 coupons each) priced by the compiled modules
    and by their sources: the same lines, discounts, shares and reasons, to the fen."""
    compiled.require_compiled()
    env = {**os.environ, "PYTHONPATH": str(compiled.ROOT)}
    found = {}
    for name, script in (
        ("compiled", _PRICE_BENCHMARK_CARTS),
        ("sources", _SOURCES_ONLY + _PRICE_BENCHMARK_CARTS),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        found[name] = json.loads(done.stdout)
    assert found["sources"]["file"].endswith("search.py")
    assert not found["compiled"]["file"].endswith(".py")
    assert found["sources"]["priced"] == found["compiled"]["priced"]
