"""The codec: JSON encoding with precise errors, and the one name grammar."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from memfun_core.errors import CorruptDataError, ValidationError
from memfun_runtime import _codec


@pytest.mark.parametrize(
    ("value", "where", "problem"),
    [
        ({"a": [1, {"b": datetime.date(2024, 1, 1)}]}, "payload['a'][1]['b']", "date"),
        ({"x": math.nan}, "payload['x']", "not a finite number"),
        ([1, 2, {3, 4}], "payload[2]", "set"),
        ({"k": {("t",): 1}}, "payload['k'][('t',)]", "key of type tuple"),
        (b"bytes", "payload", "bytes"),
    ],
)
def test_non_json_values_are_refused_with_their_path(value: Any, where: str, problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        _codec.encode_json(value)
    assert info.value.field == "payload"
    assert where in str(info.value)
    assert problem in str(info.value)


def test_a_cycle_is_reported() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValidationError, match="circular reference"):
        _codec.encode_json(cycle, field="value")


def test_json_round_trips_compactly() -> None:
    text = _codec.encode_json({"a": [1, 2.5, None, True], "ü": "✓"})
    assert text == '{"a":[1,2.5,null,true],"ü":"✓"}'
    assert _codec.decode_json(text, backend="memory", location="k") == {
        "a": [1, 2.5, None, True],
        "ü": "✓",
    }


def test_damaged_stored_json_is_corrupt_data() -> None:
    with pytest.raises(CorruptDataError) as info:
        _codec.decode_json("{not json", backend="sqlite", location="state/k")
    assert info.value.location == "state/k"
    assert info.value.backend == "sqlite"


@pytest.mark.parametrize("name", ["a", "orders.created", "A-b_c.9", "x" * 200])
def test_legal_names(name: str) -> None:
    assert _codec.check_name(name, field="topic") == name


@pytest.mark.parametrize(
    "name", ["", " ", "a b", "a..b", ".a", "a.", "a.*", "a.>", "*", "ü", "a/b", "x" * 201, 5]
)
def test_illegal_names(name: Any) -> None:
    with pytest.raises(ValidationError) as info:
        _codec.check_name(name, field="topic")
    assert info.value.field == "topic"


def test_groups_are_single_tokens_and_prefixes_may_end_with_a_dot() -> None:
    assert _codec.check_group("workers") == "workers"
    with pytest.raises(ValidationError):
        _codec.check_group("a.b")
    assert _codec.check_prefix("user.") == "user."
    assert _codec.check_prefix("") == ""
    with pytest.raises(ValidationError):
        _codec.check_prefix("a b")


@pytest.mark.parametrize("ttl", [0, -1, math.inf, math.nan, True, "5"])
def test_bad_ttls(ttl: Any) -> None:
    with pytest.raises(ValidationError) as info:
        _codec.check_ttl(ttl)
    assert info.value.field == "ttl"


def test_good_ttls_and_ints() -> None:
    assert _codec.check_ttl(None) is None
    assert _codec.check_ttl(2) == 2.0
    assert _codec.check_int(3, field="n", minimum=0, maximum=9) == 3
    with pytest.raises(ValidationError):
        _codec.check_int(True, field="n", minimum=0)
    with pytest.raises(ValidationError):
        _codec.check_int(10, field="n", minimum=0, maximum=9)


def test_headers_are_checked_and_copied() -> None:
    original = {"trace-id": "abc"}
    copy = _codec.check_headers(original)
    assert copy == original
    assert copy is not original
    for bad in ({"a b": "x"}, {"a:b": "x"}, {"ok": "x\ny"}, {"ok": 1}):
        with pytest.raises(ValidationError):
            _codec.check_headers(bad)  # type: ignore[arg-type]


def test_new_ids_are_legal_and_unique() -> None:
    ids = {_codec.new_id() for _ in range(100)}
    assert len(ids) == 100
    for value in ids:
        _codec.check_name(value, field="id")
        _codec.check_group(value)
