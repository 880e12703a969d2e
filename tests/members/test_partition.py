"""Splitting a bulk import into parts that never touch the same member (pure, no database)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.members.domain.partition import Links, parts


def _part_of(split: list[list[int]]) -> dict[int, int]:
    return {position: index for index, positions in enumerate(split) for position in positions}


def test_records_linked_through_others_share_a_part_wherever_they_are_in_the_batch() -> None:
    links: list[list[object]] = [[("phone", str(n))] for n in range(40)]
    links[0] = [("phone", "A")]
    links[17] = [("phone", "A"), ("email", "a@x.cn")]  # A – email
    links[39] = [("email", "a@x.cn")]  # joined to 0 only through 17
    links[5] = [("member", 7)]
    links[30] = [("card", "C"), ("member", 7)]  # a stored member reached by two records

    split = parts(links, 3)

    part = _part_of(split)
    assert part[0] == part[17] == part[39]
    assert part[5] == part[30]
    assert sorted(part) == list(range(40))


def test_parts_are_balanced_and_keep_the_batchs_order() -> None:
    links: list[list[object]] = [[("phone", str(n // 2))] for n in range(300)]  # pairs

    split = parts(links, 4)

    assert [len(p) for p in split] == [76, 76, 74, 74]
    assert all(p == sorted(p) for p in split)


def test_one_part_is_the_whole_batch_in_order() -> None:
    assert parts([[1], [], [1]], 1) == [[0, 1, 2]]
    assert parts([], 3) == [[], [], []]


def test_a_part_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        parts([[1]], 0)


@given(
    links=st.lists(st.lists(st.integers(min_value=0, max_value=30), max_size=3), max_size=80),
    count=st.integers(min_value=1, max_value=5),
)
def test_no_link_crosses_parts_and_every_record_is_in_exactly_one(
    links: list[list[int]], count: int
) -> None:
    split = parts(links, count)

    assert len(split) == count
    assert sorted(p for positions in split for p in positions) == list(range(len(links)))
    assert all(positions == sorted(positions) for positions in split)
    part = _part_of(split)
    holders: dict[int, set[int]] = {}
    for position, keys in enumerate(links):
        for key in keys:
            holders.setdefault(key, set()).add(part[position])
    assert all(len(found) == 1 for found in holders.values())


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=60),
    count=st.integers(min_value=2, max_value=4),
)
def test_the_heaviest_part_is_at_most_one_component_heavier_than_the_lightest(
    sizes: list[int], count: int
) -> None:
    links = [[component] for component, size in enumerate(sizes) for _ in range(size)]

    loads = Counter({index: len(p) for index, p in enumerate(parts(links, count))})

    assert max(loads.values()) - min(loads.values()) <= max(sizes)


@given(
    links=st.lists(st.lists(st.integers(min_value=0, max_value=30), max_size=3), max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=3),
    count=st.integers(min_value=1, max_value=5),
)
def test_links_hashed_in_pieces_and_joined_split_as_the_whole_batch(
    links: list[list[int]], cuts: list[int], count: int
) -> None:
    # Several processes hash a slice of the batch each; the parent joins the pieces in order.
    bounds = [0, *sorted(min(cut, len(links)) for cut in cuts), len(links)]
    pieces = [Links.of(links[start:stop]) for start, stop in itertools.pairwise(bounds)]

    assert parts(Links.joined(pieces), count) == parts(links, count)
