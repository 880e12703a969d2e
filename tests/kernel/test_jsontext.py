"""JSON text through pydantic-core's codec reads back as the standard library's would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from yipan.events.models import OutboxEvent
from yipan.kernel import jsontext
from yipan.kernel.db import unit_of_work

AT = datetime(2026, 12, 6, 12, 30, tzinfo=UTC)
# What Yipan stores as JSON: finite numbers (NaN is not JSON, and PostgreSQL refuses it), text in
# any script, integers past 64 bits, nesting.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(DOCUMENTS)
def test_a_document_written_here_reads_back_alike_with_either_codec(value: Any) -> None:
    text = jsontext.dumps(value)
    assert json.loads(text) == value
    assert jsontext.loads(text) == value
    assert jsontext.loads(text.encode()) == value


@given(DOCUMENTS)
def test_a_document_the_standard_library_wrote_reads_back_alike(value: Any) -> None:
    assert jsontext.loads(json.dumps(value)) == jsontext.loads(json.dumps(value, indent=2)) == value


def test_a_json_column_reads_back_what_was_written_on_either_backend(engine: Engine) -> None:
    payload = {
        "门店": "南京鼓楼旗舰店",
        "ratio": 1e-07,
        "big": 2**70,
        "nested": [{"a": None, "b": [True, False, 0.1]}],
        "note": 'a\\b\tc\nd "e"',
    }
    with unit_of_work(engine) as session:
        event = OutboxEvent(
            name="test.Written",
            aggregate_type="test",
            aggregate_id="1",
            payload=payload,
            occurred_at=AT,
            next_attempt_at=AT,
        )
        session.add(event)
        session.flush()
        event_id = event.id
    with unit_of_work(engine, readonly=True) as session:
        stored = session.scalar(select(OutboxEvent.payload).where(OutboxEvent.id == event_id))
    assert stored == payload
