from __future__ import annotations

from yipan.members.service.pii import Vault, mask


def test_views_mask_phones_emails_and_other_identifiers() -> None:
    assert mask("phone", "13800138000") == "138****8000"
    assert mask("email", "zhangsan@qq.com") == "z***@qq.com"
    assert mask("pos_card", "62000001") == "****0001"
    assert mask("pos_card", "123") == "***"


def test_lookup_hashes_depend_on_the_key_and_the_kind() -> None:
    one, other = Vault("key one"), Vault("key two")
    assert one.lookup_hash("phone", "13800138001") == one.lookup_hash("phone", "13800138001")
    assert one.lookup_hash("phone", "13800138001") != other.lookup_hash("phone", "13800138001")
    assert one.lookup_hash("phone", "x") != one.lookup_hash("email", "x")


def test_encryption_round_trips_with_a_fresh_nonce_each_time() -> None:
    vault = Vault("key one")
    sealed = [vault.encrypt("email", "zs@qq.com") for _ in range(2)]
    assert sealed[0] != sealed[1]
    assert {vault.decrypt("email", s) for s in sealed} == {"zs@qq.com"}
