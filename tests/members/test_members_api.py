"""The members context over HTTP, on SQLite and PostgreSQL: identity, merges, reviews, privacy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.access import api_key, bearer, sign_in
from tests.members.checks import astray
from tests.orders import world
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.events.models import OutboxEvent
from yipan.kernel.db import unit_of_work
from yipan.members.models import Identity, Member, Merge, Review, SourceRecord

PHONE = "13800138001"


def record(source: str, record_id: str, name: str = "", **identities: str) -> dict[str, Any]:
    return {
        "source": source,
        "record_id": record_id,
        "name": name,
        "identities": [{"kind": kind, "value": value} for kind, value in identities.items()],
    }


def ingest(client: TestClient, *records: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/members/records", json={"records": list(records)})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def footprint(engine: Engine) -> tuple[int, ...]:
    """Rows in every members table and the outbox: a refused request changes none of them."""
    with unit_of_work(engine, readonly=True) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Member, SourceRecord, Identity, Merge, Review, OutboxEvent)
        )


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, background=False)) as c:
        yield sign_in(c)


def test_a_pos_and_an_online_record_with_one_phone_become_one_member_showing_both_histories(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        [pos] = ingest(client, record("pos", "card-1", "张三", phone=PHONE, pos_card="6200 0001"))
        [online] = ingest(client, record("online_shop", "u-77", "张三", email="zs@qq.com"))
        assert pos["outcome"] == online["outcome"] == "created"
        assert pos["member_id"] != online["member_id"]
        for external_id, channel, member_id in [
            ("R-1", "pos", pos["member_id"]),
            ("MA-1", "miniapp", online["member_id"]),
        ]:
            body = world.order(
                external_id,
                [world.line()],
                channel=channel,
                address=world.PEOPLES_SQUARE,
                customer={"member_id": member_id},
            )
            placed = client.post("/api/v1/orders", json=body)
            assert placed.status_code in (200, 201), placed.text

        # The online shop later learns the account's phone, written its own way.
        [linked] = ingest(
            client,
            record("online_shop", "u-77", "张三", email="zs@qq.com", phone="+86 138-0013-8001"),
        )
        assert (linked["outcome"], linked["member_id"]) == ("merged", pos["member_id"])

        view = client.get(f"/api/v1/members/{online['member_id']}/360").json()
        assert view["profile"]["id"] == pos["member_id"]
        assert view["profile"]["resolved_from"] == online["member_id"]
        assert {(o["channel"], o["member_id"]) for o in view["orders"]} == {
            ("pos", pos["member_id"]),
            ("miniapp", online["member_id"]),
        }
        assert {i["record"] for i in view["identities"]} == {"pos:card-1", "online_shop:u-77"}
        phones = {i["value"] for i in view["identities"] if i["kind"] == "phone"}
        assert phones == {"13800138001"}  # HQ may see personal data whole (members.pii)
        as_marketer = client.get(
            f"/api/v1/members/{online['member_id']}/360",
            headers=bearer(api_key(engine, Role.MARKETER)),
        ).json()
        masked = {i["value"] for i in as_marketer["identities"] if i["kind"] == "phone"}
        assert masked == {"138****8001"}
        assert [m["absorbed"] for m in view["merges"]] == [online["member_id"]]


def test_a_phone_claimed_by_two_cards_under_different_names_goes_to_review(
    client: TestClient, engine: Engine
) -> None:
    [zhang] = ingest(client, record("pos", "c1", "张三", phone=PHONE, pos_card="1001"))
    [li] = ingest(client, record("pos", "c2", "李四", phone=PHONE, pos_card="1002"))
    assert li["outcome"] == "conflict"
    assert li["member_id"] != zhang["member_id"]
    [review] = client.get("/api/v1/members/reviews").json()
    assert review["id"] == li["reviews"][0]
    assert {review["member"], review["other_member"]} == {zhang["member_id"], li["member_id"]}
    assert {review["left"]["name"], review["right"]["name"]} == {"张三", "李四"}

    decided = client.post(
        f"/api/v1/members/reviews/{review['id']}/reject", json={"who": "hq-ops", "why": "couple"}
    )
    assert decided.json()["status"] == "rejected"
    again = client.post(f"/api/v1/members/reviews/{review['id']}/accept", json={"who": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "REVIEW_ALREADY_RESOLVED")
    assert client.get("/api/v1/members/reviews").json() == []
    # A third card with the phone and Li's name is Li's, never Zhang's: the pair stays apart.
    [third] = ingest(client, record("pos", "c3", "李四", phone=PHONE, pos_card="1002"))
    assert third["member_id"] == li["member_id"]


def test_accepting_a_review_merges_the_two_members(client: TestClient, engine: Engine) -> None:
    [zhang] = ingest(client, record("pos", "c1", "张三", phone=PHONE, pos_card="1001"))
    [li] = ingest(client, record("pos", "c2", "李四", phone=PHONE, pos_card="1002"))
    accepted = client.post(
        f"/api/v1/members/reviews/{li['reviews'][0]}/accept",
        json={"who": "store-7", "why": "same person, nickname on one card"},
    )
    assert accepted.json()["status"] == "accepted"
    assert client.get(f"/api/v1/members/{li['member_id']}").json()["id"] == zhang["member_id"]
    [merge] = client.get(f"/api/v1/members/{zhang['member_id']}/360").json()["merges"]
    assert (merge["rule"], merge["actor"]) == ("review_accepted", "store-7")
    assert astray(engine) == []


@pytest.mark.parametrize("junk", ["13800138000", "00000000000"])
def test_a_junk_phone_never_joins_members(client: TestClient, junk: str) -> None:
    results = ingest(
        client,
        record("pos", "a", "王五", phone=junk),
        record("online_shop", "b", "赵六", phone=junk),
    )
    assert len({r["member_id"] for r in results}) == 2
    assert {r["outcome"] for r in results} == {"created"}


def test_an_unmerge_restores_both_members_and_the_merged_away_id_stops_resolving(
    client: TestClient, engine: Engine
) -> None:
    [pos] = ingest(client, record("pos", "card-1", "张三", phone=PHONE))
    [online] = ingest(client, record("online_shop", "u-1", "张三", email="zs@qq.com"))
    [bridge] = ingest(client, record("social", "union-1", "张三", phone=PHONE, email="zs@qq.com"))
    assert (bridge["outcome"], bridge["member_id"]) == ("merged", pos["member_id"])
    assert client.get(f"/api/v1/members/{online['member_id']}").json()["id"] == pos["member_id"]
    merges = client.get(f"/api/v1/members/{pos['member_id']}/360").json()["merges"]
    [merged] = [m for m in merges if m["absorbed"] == online["member_id"]]

    undone = client.post(
        f"/api/v1/members/merges/{merged['id']}/undo", json={"who": "hq", "why": "shared e-mail"}
    )
    assert undone.status_code == 200, undone.text
    assert undone.json()["merge"]["undone_by"] == "hq"
    restored = client.get(f"/api/v1/members/{online['member_id']}").json()
    assert (restored["id"], restored["resolved_from"]) == (online["member_id"], None)
    survivor = client.get(f"/api/v1/members/{pos['member_id']}/360").json()
    online_view = client.get(f"/api/v1/members/{online['member_id']}/360").json()
    assert "online_shop:u-1" in {i["record"] for i in online_view["identities"]}
    assert "online_shop:u-1" not in {i["record"] for i in survivor["identities"]}
    assert "pos:card-1" in {i["record"] for i in survivor["identities"]}
    assert astray(engine) == []
    twice = client.post(f"/api/v1/members/merges/{merged['id']}/undo", json={"who": "hq"})
    assert (twice.status_code, twice.json()["code"]) == (409, "MERGE_ALREADY_UNDONE")
    # The separation holds: sending the bridge again does not merge them back.
    [replay] = ingest(client, record("social", "union-1", "张三", phone=PHONE, email="zs@qq.com"))
    assert replay["outcome"] == "unchanged"
    assert client.get(f"/api/v1/members/{online['member_id']}").json()["id"] == online["member_id"]


def test_replaying_a_batch_changes_nothing(client: TestClient, engine: Engine) -> None:
    batch = [
        record("pos", "c1", "张三", phone=PHONE, pos_card="1001"),
        record("online_shop", "u1", "张三", phone="138 0013 8001"),
        record("pos", "c2", "李四", phone=PHONE, pos_card="1002"),
    ]
    first = ingest(client, *batch)
    before = footprint(engine)
    second = ingest(client, *batch)
    assert footprint(engine) == before
    assert [r["member_id"] for r in second] == [r["member_id"] for r in first]
    assert {r["outcome"] for r in second} == {"unchanged"}


def test_a_changed_payload_replaces_the_records_identities(
    client: TestClient, engine: Engine
) -> None:
    [first] = ingest(client, record("pos", "c1", "张三", phone=PHONE))
    [changed] = ingest(client, record("pos", "c1", "张三", phone="13912345678"))
    assert (changed["outcome"], changed["member_id"]) == ("updated", first["member_id"])
    assert client.get("/api/v1/members", params={"phone": PHONE}).json() == []
    [found] = client.get("/api/v1/members", params={"phone": "139-1234-5678"}).json()
    assert found["id"] == first["member_id"]
    # A change that brings another member's identifier merges the two, identities and all.
    [other] = ingest(client, record("online_shop", "u1", "张三", email="zs@qq.com"))
    [merged] = ingest(client, record("pos", "c1", "张三", phone="13912345678", email="zs@qq.com"))
    assert (merged["outcome"], merged["member_id"]) == ("merged", first["member_id"])
    assert client.get(f"/api/v1/members/{other['member_id']}").json()["id"] == first["member_id"]
    assert astray(engine) == []


def test_a_phone_written_another_way_finds_the_member(client: TestClient) -> None:
    [created] = ingest(client, record("pos", "c1", "张三", phone=PHONE))
    [found] = client.get("/api/v1/members", params={"phone": "+86 138-0013-8001"}).json()
    assert found["id"] == created["member_id"]
    bad = client.get("/api/v1/members", params={"phone": "12345"})
    assert (bad.status_code, bad.json()["code"]) == (422, "INVALID_LOOKUP")


def test_erasing_keeps_the_id_and_removes_personal_data(client: TestClient, engine: Engine) -> None:
    [member] = ingest(client, record("pos", "c1", "张三", phone=PHONE, email="zs@qq.com"))
    exported = client.get(f"/api/v1/members/{member['member_id']}/export").json()
    assert {i["value"] for r in exported["records"] for i in r["identities"]} == {
        PHONE,
        "zs@qq.com",
    }
    erased = client.post(f"/api/v1/members/{member['member_id']}/erase").json()
    assert (erased["id"], erased["status"], erased["name"]) == (
        member["member_id"],
        "erased",
        "",
    )
    events_after_first = footprint(engine)[-1]
    assert client.post(f"/api/v1/members/{member['member_id']}/erase").status_code == 200
    assert footprint(engine)[-1] == events_after_first
    assert client.get("/api/v1/members", params={"phone": PHONE}).json() == []
    after = client.get(f"/api/v1/members/{member['member_id']}/export").json()
    assert after["records"][0]["name"] == ""
    assert after["records"][0]["identities"] == []
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 0
    assert astray(engine) == []


def test_consent_is_changed_per_purpose_and_refused_for_an_erased_member(
    client: TestClient,
) -> None:
    [member] = ingest(client, record("pos", "c1", "张三", phone=PHONE))
    url = f"/api/v1/members/{member['member_id']}/consent"
    changed = client.put(url, json={"marketing_sms": True}).json()["consent"]
    assert (changed["marketing_sms"], changed["social_messages"]) == (True, False)
    client.post(f"/api/v1/members/{member['member_id']}/erase")
    refused = client.put(url, json={"social_messages": True})
    assert (refused.status_code, refused.json()["code"]) == (409, "MEMBER_ERASED")


def test_refused_requests_write_nothing(client: TestClient, engine: Engine) -> None:
    before = footprint(engine)
    unknown = client.get("/api/v1/members/M0000009999")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_MEMBER")
    assert client.get("/api/v1/members/nobody/360").json()["code"] == "UNKNOWN_MEMBER"
    twice = [record("pos", "c1", phone=PHONE), record("pos", "c1", phone=PHONE)]
    duplicated = client.post("/api/v1/members/records", json={"records": twice})
    assert (duplicated.status_code, duplicated.json()["code"]) == (422, "INVALID_RECORDS")
    bad_kind = client.post(
        "/api/v1/members/records",
        json={
            "records": [
                {"source": "pos", "record_id": "x", "identities": [{"kind": "fax", "value": "1"}]}
            ]
        },
    )
    assert (bad_kind.status_code, bad_kind.json()["code"]) == (422, "VALIDATION_ERROR")
    assert footprint(engine) == before


def test_an_import_keeps_good_rows_and_reports_bad_ones_by_number(
    client: TestClient, engine: Engine
) -> None:
    csv_text = (
        "record_id,name,phone,email,attr_level\n"
        "c1,张三,13800138001,zs@qq.com,gold\n"
        ",无号,13800138002,,\n"
        "c2,张三,+86 138 0013 8001,,\n"
        "c1,重复,13800138003,,\n"
        "c3,only,two\n"
    )
    response = client.post(
        "/api/v1/members/import?source=pos&format=csv",
        content=csv_text.encode(),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total"], report["created"], report["attached"]) == (5, 1, 1)
    assert [(e["row"], e["code"]) for e in report["errors"]] == [
        (2, "MALFORMED_ROW"),
        (4, "DUPLICATE_RECORD_IN_FILE"),
        (5, "MALFORMED_ROW"),
    ]
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 2
    jsonl = (
        '{"record_id": "u1", "identities": [{"kind": "email", "value": "ZS@qq.com"}]}\nnot json\n'
    )
    second = client.post(
        "/api/v1/members/import?source=online_shop&format=jsonl", content=jsonl.encode()
    ).json()
    assert (second["attached"], [e["row"] for e in second["errors"]]) == (1, [2])
    bad_header = client.post("/api/v1/members/import?source=pos", content=b"who,phone\nx,1\n")
    assert (bad_header.status_code, bad_header.json()["code"]) == (422, "INVALID_IMPORT_FILE")


def test_undoing_a_records_link_gives_it_a_member_of_its_own(
    client: TestClient, engine: Engine
) -> None:
    results = ingest(
        client,
        record("pos", "card-1", "张三", phone=PHONE),
        record("online_shop", "u-1", "张三", phone=PHONE),
    )
    # Records are placed in (source, record id) order: the online one starts the member.
    assert [r["outcome"] for r in results] == ["attached", "created"]
    member_id = results[0]["member_id"]
    assert results[1]["member_id"] == member_id
    [link] = client.get(f"/api/v1/members/{member_id}/360").json()["merges"]
    assert (link["kind"], link["rule"], link["absorbed"]) == ("record_linked", "same_phone", None)
    assert (link["survivor_record"], link["absorbed_record"]) == ("online_shop:u-1", "pos:card-1")
    undone = client.post(f"/api/v1/members/merges/{link['id']}/undo", json={"who": "hq"}).json()
    kept, split_off = undone["members"]
    assert kept["id"] == member_id
    assert split_off["id"] != member_id
    [moved] = client.get(f"/api/v1/members/{split_off['id']}/360").json()["identities"]
    assert moved["record"] == "pos:card-1"
    found = client.get("/api/v1/members", params={"phone": PHONE}).json()
    assert {m["id"] for m in found} == {member_id, split_off["id"]}
    assert astray(engine) == []


def test_the_360_shows_coupons_issued_to_the_member_and_to_ids_merged_into_them(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        [card] = ingest(client, record("pos", "card-9", "李四", phone="13700001111"))
        [account] = ingest(client, record("online_shop", "u-9", "李四", email="ls@qq.com"))
        template = {
            "code": "ten-off",
            "name": "10元无门槛",
            "benefit": {"kind": "amount_off", "amount_fen": 1000},
        }
        assert client.post("/api/v1/coupon-templates", json=template).status_code == 201
        codes = []
        for key, member in (("live-1", account["member_id"]), ("live-2", card["member_id"])):
            issued = client.post(
                "/api/v1/coupon-templates/ten-off/issue",
                json={"issue_key": key, "member_ids": [member]},
            )
            assert issued.status_code == 201, issued.text
            codes += [c["code"] for c in issued.json()["coupons"]]
        # The account learns the card's phone: one member, holding both coupons.
        ingest(client, record("online_shop", "u-9", "李四", email="ls@qq.com", phone="13700001111"))
        view = client.get(f"/api/v1/members/{card['member_id']}/360").json()
        assert sorted(c["code"] for c in view["coupons"]) == sorted(codes)
        assert {(c["template"], c["status"]) for c in view["coupons"]} == {("ten-off", "issued")}
