"""The codec: JSON encoding with precise errors, and the one name grammar."""

from __future__ import annotations

import datetime
import enum
import json
import math
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


class _Color(enum.IntEnum):
    RED = 1


# --- copy_json: T0's payload copy must equal the JSON round trip of the other tiers ---------

_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _round_trip(value: Any) -> Any:
    """The oracle: what the standard library's JSON makes of ``value``."""
    return json.loads(json.dumps(value, allow_nan=False))


@given(_json_values)
def test_copy_json_equals_the_json_round_trip(value: Any) -> None:
    copied = _codec.copy_json(value)
    expected = _round_trip(value)
    assert copied == expected
    assert repr(copied) == repr(expected)  # same types: -0.0 vs 0, 1.0 vs 1, True vs 1


@given(_json_values)
def test_encoded_text_decodes_to_the_json_round_trip(value: Any) -> None:
    decoded = _codec.decode_json(_codec.encode_json(value), backend="test", location="x")
    assert repr(decoded) == repr(_round_trip(value))


@pytest.mark.parametrize(
    "value",
    [
        "\ud800 a lone surrogate",  # orjson refuses it; the standard library escapes it
        {"big": 2**64, "small": -(2**63) - 1},  # beyond orjson's 64-bit ints
        {"t": (1, 2), 1: "int key"},
        [1e16, 0.1, -0.0, 5e-324],
    ],
)
def test_values_outside_the_fast_path_encode_as_the_standard_library_does(value: Any) -> None:
    text = _codec.encode_json(value)
    assert repr(_codec.decode_json(text, backend="test", location="x")) == repr(_round_trip(value))
    text.encode()  # storable as UTF-8 by every tier: no raw lone surrogate in the text


@pytest.mark.parametrize(
    "value",
    [
        {"t": (1, 2)},  # tuples become lists
        {1: "a", None: "b", 2.5: "c"},  # non-str keys become strings
        {"i": 10**30},  # big ints
        {"e": _Color.RED},  # int subclasses
        [True, 1, 1.0, -0.0],
    ],
)
def test_copy_json_takes_the_json_path_for_what_json_changes(value: Any) -> None:
    assert repr(_codec.copy_json(value)) == repr(_round_trip(value))


def test_copy_json_handles_nesting_deeper_than_its_fast_path() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = {"d": [deep]}
    assert _codec.copy_json(deep) == deep


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"x": math.nan}, "not a finite number"),
        ({"x": [math.inf]}, "not a finite number"),
        ({"when": datetime.date(2024, 1, 1)}, "date"),
        ({"i": 10**5000}, "payload"),
    ],
)
def test_copy_json_refuses_what_encode_json_refuses(value: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _codec.copy_json(value)


def test_copy_json_refuses_a_cycle() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ValidationError, match="circular reference"):
        _codec.copy_json(cycle)


def test_copy_json_shares_nothing_mutable() -> None:
    original: dict[str, Any] = {"list": [1, {"k": "v"}], "s": "text"}
    copied = _codec.copy_json(original)
    copied["list"][1]["k"] = "changed"
    copied["list"].append(2)
    assert original == {"list": [1, {"k": "v"}], "s": "text"}


def test_a_forked_child_draws_ids_of_its_own() -> None:
    _codec.new_id()  # the parent holds a batch of drawn ids
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(writer, "".join(_codec.new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    child = {text[i : i + 32] for i in range(0, len(text), 32)}
    parent = {_codec.new_id() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent
