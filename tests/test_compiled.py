"""The pricing engine and the identity rules run compiled where the install could compile them
(setup.py), and answer as their sources do."""

from __future__ import annotations

import importlib
import importlib.machinery
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
# Each prints the file its engine was loaded from and what it made of the benchmark's inputs.
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
print(json.dumps({"file": search.__file__, "made": [repr(price_cart(c)) for c in carts]}))
"""
_RESOLVE_BENCHMARK_PEOPLE = """
import json
from bench import people
from yipan.members.domain import identifiers, identity
data = people.generate(6000)
records = [
    identifiers.SourceRecord(
        r["source"],
        r["record_id"],
        tuple(
            identifiers.Identity(identifiers.IdentityKind(i["kind"]), i["value"], i.get("source"))
            for i in r["identities"]
        ),
        r["name"],
    )
    for rows in data.records.values()
    for r in rows
]
found = identity.resolve(records)
made = [repr(found.members()), repr(found.merges), repr(found.reviews)]
made += [repr(row) for row in found.identity_rows()]
print(json.dumps({"file": identity.__file__, "made": made}))
"""
_PLACE_BENCHMARK_PEOPLE = """
import json
from types import SimpleNamespace
from bench import people
from yipan.members.domain import identifiers, placement
data = people.generate(6000)
made, entries = [], []
for rows in data.records.values():
    for r in rows:
        sent = [
            SimpleNamespace(
                kind=identifiers.IdentityKind(i["kind"]), value=i["value"], source=i.get("source")
            )
            for i in r["identities"]
        ]
        key = identifiers.RecordKey(r["source"], r["record_id"])
        entry, stored = placement.classify_sent(key, r["name"], sent, "{}:{}".format)
        entries.append(entry)
        made.append(repr((entry.strong, stored)))
        made.append(placement.payload_digest(r["source"], r["record_id"], r["name"], sent, {}))
batch = placement.Batch()
for entry in sorted(entries, key=lambda e: e.key):
    made.append(repr(batch.place(entry, None)[1]))
made += [repr(min(r.key for r in batch.placed[e.key].final().records)) for e in entries]
made += [
    repr((m.survivor_key, m.absorbed_key, m.via, m.rule, m.identifier_kind)) for m in batch.merges
]
made += [repr((r.reason, r.record, r.left, r.right, r.shared)) for r in batch.reviews]
print(json.dumps({"file": placement.__file__, "made": made}))
"""


@pytest.mark.parametrize("source", compiled.compiled_sources(), ids=compiled.module_name)
def test_the_compiled_form_is_what_is_imported(source: Path) -> None:
    compiled.require_compiled()
    module = importlib.import_module(compiled.module_name(source))
    built = compiled.built_beside(source)
    assert module.__file__ in {str(path) for path in built}


def test_compiled_forms_older_than_their_source_or_no_longer_listed_are_stale(
    tmp_path: Path,
) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    package = tmp_path / "pkg"
    package.mkdir()
    for name in ("fresh", "changed", "dropped", "plain"):
        (package / f"{name}.py").write_text("")
    for name in ("fresh", "changed", "dropped"):
        (package / f"{name}{suffix}").write_bytes(b"")  # only names and ages are looked at
    hour_ago = (package / "changed.py").stat().st_mtime - 3600
    os.utime(package / f"changed{suffix}", (hour_ago, hour_ago))
    listed = [package / "fresh.py", package / "changed.py"]
    assert compiled.stale(tmp_path, listed) == [package / "changed.py", package / "dropped.py"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [
        pytest.param(_PRICE_BENCHMARK_CARTS, id="price_cart"),
        pytest.param(_RESOLVE_BENCHMARK_PEOPLE, id="identity.resolve"),
        pytest.param(_PLACE_BENCHMARK_PEOPLE, id="placement"),
    ],
)
def test_the_sources_give_the_same_answers_as_the_compiled_modules(script: str) -> None:
    """The benchmark's inputs — carts with 200 promotions and 5 coupons, people from three
    systems — through the compiled modules and through their sources: the same prices, shares
    and reasons to the fen, the same members, merges, reviews and identity rows, and the same
    records placed one by one as an import places them."""
    compiled.require_compiled()
    env = {**os.environ, "PYTHONPATH": str(compiled.ROOT)}
    found = {}
    for name, code in (("compiled", script), ("sources", _SOURCES_ONLY + script)):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        found[name] = json.loads(done.stdout)
    assert found["sources"]["file"].endswith(".py")
    assert not found["compiled"]["file"].endswith(".py")
    assert len(found["compiled"]["made"]) >= 300
    assert found["sources"]["made"] == found["compiled"]["made"]
