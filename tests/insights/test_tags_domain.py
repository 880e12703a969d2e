"""The tag rules over plain values: quintile scores, RFM segments, price bands, channel, scene
and lapse risk, and the facts of merged ids folding together."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.insights.domain import tags as rules
from yipan.insights.domain.tags import MemberFacts, RfmCuts, RfmSegment, TagKind

values = st.lists(st.integers(min_value=0, max_value=10**9), max_size=300)


@given(values, st.integers(min_value=-(10**9), max_value=2 * 10**9))
def test_a_quintile_score_is_always_1_to_5(population: list[int], value: int) -> None:
    cuts = rules.quintile_cuts(population)
    assert len(cuts) == (4 if population else 0)
    assert list(cuts) == sorted(cuts)
    assert 1 <= rules.quintile_score(value, cuts) <= 5


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=300))
def test_scores_rise_with_the_value_and_split_distinct_values_into_fifths(
    population: list[int],
) -> None:
    cuts = rules.quintile_cuts(population)
    scores = [rules.quintile_score(v, cuts) for v in sorted(population)]
    assert scores == sorted(scores)
    assert rules.quintile_score(min(population), cuts) == 1
    if len(set(population)) == len(population) and len(population) >= 5:
        # Distinct values: every score holds a fifth, give or take rounding.
        n = len(population)
        for score in range(1, 6):
            assert abs(scores.count(score) - n / 5) <= 1


def test_scores_of_ten_members() -> None:
    cuts = rules.quintile_cuts(list(range(1, 11)))
    assert cuts == (2, 4, 6, 8)
    assert [rules.quintile_score(v, cuts) for v in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rules.quintile_score(7, ()) == 3  # nobody to compare with


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))
def test_every_rfm_score_has_exactly_one_segment(r: int, f: int, m: int) -> None:
    assert rules.rfm_segment(r, f, m) in set(RfmSegment)


@pytest.mark.parametrize(
    ("scores", "segment"),
    [
        ((5, 5, 5), RfmSegment.CHAMPIONS),
        ((3, 5, 1), RfmSegment.LOYAL),
        ((5, 1, 1), RfmSegment.NEW),
        ((3, 2, 5), RfmSegment.PROMISING),
        ((1, 5, 5), RfmSegment.AT_RISK),
        ((2, 2, 5), RfmSegment.HIBERNATING),
    ],
)
def test_named_segments(scores: tuple[int, int, int], segment: RfmSegment) -> None:
    assert rules.rfm_segment(*scores) is segment


def test_rfm_scores_outside_1_to_5_are_a_bug() -> None:
    with pytest.raises(ValueError, match="1 … 5"):
        rules.rfm_segment(0, 3, 3)


def test_price_position_and_band() -> None:
    cuts = rules.tertile_cuts([100, 200, 300, 400, 500, 600])
    assert cuts == (200, 400)
    assert [rules.price_position(p, cuts) for p in (100, 200, 300, 401)] == [0.0, 0.0, 0.5, 1.0]
    assert rules.price_position(999, None) == 0.5
    assert rules.tertile_cuts([]) is None
    assert [rules.price_band(x) for x in (0.0, 0.33, 0.5, 0.67, 1.0)] == [
        rules.PriceBand.LOW,
        rules.PriceBand.LOW,
        rules.PriceBand.MID,
        rules.PriceBand.HIGH,
        rules.PriceBand.HIGH,
    ]


def test_channel_scene_and_lapse_risk() -> None:
    assert rules.channel_preference(7, 3) == (rules.ChannelPreference.ONLINE, 0.7)
    assert rules.channel_preference(3, 7) == (rules.ChannelPreference.STORE, 0.3)
    assert rules.channel_preference(1, 1)[0] is rules.ChannelPreference.OMNICHANNEL
    with pytest.raises(ValueError):
        rules.channel_preference(0, 0)
    assert [rules.scene_of(m) for m in ("pickup", "in_store", "ship", "local_delivery")] == [
        rules.Scene.PICKUP,
        rules.Scene.IN_STORE,
        rules.Scene.DELIVERY,
        rules.Scene.DELIVERY,
    ]
    assert rules.lapse_risk(0.9)[0] is rules.LapseRisk.LOW
    assert rules.lapse_risk(0.5)[0] is rules.LapseRisk.MEDIUM
    assert rules.lapse_risk(0.1) == (rules.LapseRisk.HIGH, pytest.approx(0.9))


facts = st.builds(
    MemberFacts,
    member_id=st.just(1),
    purchases=st.integers(0, 50),
    spend_fen=st.integers(0, 10**8),
    last_day=st.integers(738_000, 740_000),
    category_spend=st.dictionaries(st.sampled_from("abcde"), st.integers(0, 10**6)),
    size_units=st.dictionaries(st.sampled_from(["S", "M", "L", "42"]), st.integers(0, 9)),
    online_orders=st.integers(0, 20),
    store_orders=st.integers(0, 20),
    scene_units=st.dictionaries(st.sampled_from(list(rules.Scene)), st.integers(0, 9)),
    price_position=st.floats(0, 1),
    price_weight=st.just(1),
    nodes=st.dictionaries(st.sampled_from(["ST-1", "WH-1"]), st.integers(1, 9)),
    probability_alive=st.none() | st.floats(0, 1),
)


@given(st.lists(facts, max_size=30), facts)
def test_tags_stay_in_their_ranges(population: list[MemberFacts], member: MemberFacts) -> None:
    cuts = rules.rfm_cuts(population)
    tags = rules.member_tags(member, cuts)
    if member.purchases == 0:
        assert tags == []
        return
    kinds = [t.kind for t in tags]
    for kind in (TagKind.RFM_SEGMENT, TagKind.RECENCY_SCORE, TagKind.PRICE_BAND):
        assert kinds.count(kind) == 1
    assert kinds.count(TagKind.CATEGORY) <= rules.TOP_CATEGORIES
    assert kinds.count(TagKind.SIZE) <= rules.TOP_SIZES
    for tag in tags:
        allowed = rules.CLOSED_VALUES.get(tag.kind)
        assert allowed is None or tag.value in allowed
        if tag.kind in (TagKind.CATEGORY, TagKind.SIZE, TagKind.SCENE, TagKind.LAPSE_RISK):
            assert tag.score is not None
            assert 0 <= tag.score <= 1
    # The same facts always give the same tags (no dependence on dict order).
    assert rules.member_tags(member, cuts) == tags


def test_merged_ids_fold_into_one_members_facts() -> None:
    mine = MemberFacts(1, purchases=2, spend_fen=100, last_day=10, nodes={"ST-1": 2})
    theirs = MemberFacts(2, purchases=1, spend_fen=50, last_day=30, nodes={"ST-1": 1, "WH": 1})
    mine.add(theirs)
    assert (mine.purchases, mine.spend_fen, mine.last_day) == (3, 150, 30)
    assert mine.nodes == {"ST-1": 3, "WH": 1}


def test_cuts_survive_their_json() -> None:
    cuts = RfmCuts((1, 2, 3, 4), (1, 1, 2, 5), (10, 20, 30, 40), 99)
    assert RfmCuts.from_json(cuts.as_json()) == cuts
