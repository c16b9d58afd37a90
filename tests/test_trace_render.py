"""The fast trace renderer writes exactly what the reference (``json.dumps`` of each record's
flat dict, sorted keys) writes, for any record, and fails on the same records."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcptrio._core import PCTScheduler, RandomScheduler
from pcptrio._core._schedulers._base import coin_index, weighted_index
from pcptrio._core._trace import _lines, render_jsonl, trace_sha256


def reference(records: list[Any]) -> str:
    return "".join(line + "\n" for line in _lines(records))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
# Field names that collide with the fixed keys, or need escaping, or hold a '%'.
names = st.one_of(
    st.sampled_from(["pfn", "zone", "cpu", "step", "actor", "a%sb", 'q"uote', "é", "%%"]),
    st.text(max_size=5),
)
records = st.tuples(
    st.one_of(st.integers(0, 10**6), st.booleans()),  # step (a bool is not an int here)
    st.one_of(st.integers(0, 10**9), st.floats(allow_nan=False, allow_infinity=False)),
    st.one_of(st.sampled_from(["cpu0/churn", "kworker/1:0", 'a"b', "%s"]), st.text(max_size=6)),
    st.one_of(st.none(), st.integers(0, 1023), st.booleans()),
    st.one_of(st.sampled_from(["spend", "pcp_alloc", "100%"]), st.text(max_size=6)),
    st.dictionaries(names, values, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=12))
def test_fast_rendering_equals_the_reference(recs: list[Any]) -> None:
    want = reference(recs)
    assert render_jsonl(recs) == want
    assert trace_sha256(recs) == hashlib.sha256(want.encode()).hexdigest()


def test_shapes_do_not_leak_between_records() -> None:
    # The same event with and without fields, fields in another order, a field that turns
    # from an int into a string and a bool: each line is its own record's.
    recs: list[Any] = [
        (1, 0, "a", 0, "e", {}),
        (2, 0, "a", 0, "e", {"x": 1, "y": "s"}),
        (3, 0, "a", None, "e", {"y": True, "x": None}),
        (4, 0, "b", 1, "e", {"x": "1", "y": [1, {"k": 2}]}),
        (5, 0, "a", 0, "e", {}),
    ]
    assert render_jsonl(recs) == reference(recs)
    assert json.loads(render_jsonl(recs).splitlines()[2]) == {
        "step": 3, "t_ns": 0, "actor": "a", "cpu": None, "event": "e", "y": True, "x": None,
    }  # fmt: skip


def test_a_record_that_is_not_json_fails_as_the_reference_does() -> None:
    recs: list[Any] = [(1, 0, "a", 0, "e", {"x": 1}), (2, 0, "a", 0, "e", {"x": object()})]
    with pytest.raises(TypeError, match=r"trace record at step 2 \(e\) is not JSON"):
        render_jsonl(recs)
    with pytest.raises(TypeError, match=r"trace record at step 2 \(e\) is not JSON"):
        trace_sha256(recs)


@given(
    st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 1.0, exclude_min=True, exclude_max=True)
)
def test_coin_answers_as_weighted_index(u: float, p: float) -> None:
    assert coin_index(u, p) == weighted_index(u, (1.0 - p, p))


@pytest.mark.parametrize("make", [RandomScheduler, PCTScheduler])
@given(seed=st.integers(0, 2**32), p=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
def test_a_schedulers_coin_is_its_weighted_choice(make: Any, seed: int, p: float) -> None:
    # chance() asks coin(); a token made before coin() existed replays through choose().
    a, b = make(seed), make(seed)
    assert [a.coin("x", p) for _ in range(50)] == [
        b.choose("x", 2, (1.0 - p, p)) for _ in range(50)
    ]
