from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.jsonmerge import deep_merge, get_path, set_path
from sdr_agent.storage.repos.pagination import InvalidCursorError, decode_cursor, encode_cursor
from sdr_agent.storage.repos.timeutil import as_utc, unix_secs


def test_new_id_shape_and_uniqueness() -> None:
    ids = {new_id("conv") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"conv_[a-z2-7]{26}", i) for i in ids)


def test_deep_merge_semantics() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2], "f": "x"}
    patch = {"a": {"c": {"d": None, "g": 3}}, "e": [3], "f": None, "h": {"i": None, "j": 1}}
    merged = deep_merge(base, patch)
    assert merged == {"a": {"b": 1, "c": {"g": 3}}, "e": [3], "h": {"j": 1}}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2], "f": "x"}, "inputs are not modified"


def test_paths() -> None:
    tree: dict[str, object] = {"agent": "not-a-dict"}
    set_path(tree, "hi", "agent", "first_message")
    assert tree == {"agent": {"first_message": "hi"}}
    assert get_path(tree, "agent", "first_message") == "hi"
    assert get_path(tree, "agent", "missing", default=7) == 7


def test_cursor_round_trip_and_tampering() -> None:
    moment = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    cursor = encode_cursor(moment, "agent_x")
    position = decode_cursor(cursor)
    assert position.created_at == moment and position.item_id == "agent_x"
    for bad in ["", "!!!", "e30", cursor[:-3]]:
        with pytest.raises(InvalidCursorError):
            decode_cursor(bad)


def test_utc_normalisation() -> None:
    naive = datetime(2026, 1, 1, 12, 0, 0)
    assert as_utc(naive) == datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    plus_two = datetime(2026, 1, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(plus_two).hour == 12 and as_utc(plus_two).tzinfo == UTC
    assert unix_secs(datetime(1970, 1, 1, 0, 1, tzinfo=UTC)) == 60 and unix_secs(None) is None
