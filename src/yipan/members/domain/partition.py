"""Split a bulk import into parts that never touch the same member, so processes can share it.

Two records must be decided by the same process when they share a strong identifier (the rules
may join them) or when they reach the same stored member (both would change it). Those links
make a graph of records; each connected component goes whole into one part, and the parts are
balanced by record count (largest component first, onto the lightest part). Inside a part the
records keep the order they came in, so a part is ingested as the whole file would have been.

The components come from `scipy.sparse.csgraph.connected_components` (records and link keys as
the two sides of one graph) rather than a union–find written here: it is one C call for a
million records.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from scipy.sparse import coo_array  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]


def parts(links: Sequence[Iterable[Hashable]], count: int) -> list[list[int]]:
    """`count` lists of record positions (some maybe empty), each ascending; records whose
    `links` (strong identifiers, stored members) share a key, directly or through others, are
    always in the same list."""
    if count < 1:
        raise ValueError("count must be at least 1")
    records = len(links)
    if count == 1 or records == 0:
        return [list(range(records))] + [[] for _ in range(count - 1)]
    keys: dict[Hashable, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for position, linked in enumerate(links):
        for key in linked:
            rows.append(position)
            cols.append(keys.setdefault(key, len(keys)))
    nodes = records + len(keys)
    graph = coo_array(
        (
            np.ones(len(rows), dtype=np.int8),
            (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64) + records),
        ),
        shape=(nodes, nodes),
    )
    _, labels = connected_components(graph, directed=False)
    record_labels = labels[:records]
    sizes = np.bincount(record_labels)
    # Largest component first onto the lightest part; ties by label so the split is repeatable.
    order = np.lexsort((np.arange(len(sizes)), -sizes))
    part_of = np.empty(len(sizes), dtype=np.int64)
    loads = [(0, index) for index in range(count)]
    for label in order.tolist():
        size = int(sizes[label])
        if size == 0:
            break
        load, index = heapq.heappop(loads)
        part_of[label] = index
        heapq.heappush(loads, (load + size, index))
    assigned = part_of[record_labels]
    return [np.flatnonzero(assigned == index).tolist() for index in range(count)]
