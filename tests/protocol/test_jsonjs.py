"""protocol.jsonjs writes and reads JSON exactly as Node's JSON.stringify / JSON.parse do."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.jsonjs import (
    JsonParseError,
    dumps,
    is_array_index,
    js_number,
    loads,
    stable_clone,
    to_file_text,
)

if TYPE_CHECKING:
    from conftest import NodeOracle

# ORACLE_EXAMPLES raises the example count for a longer soak run against node.
ORACLE_SETTINGS = settings(
    max_examples=int(os.environ.get("ORACLE_EXAMPLES", "0")) or 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SPECIAL_FLOATS = [
    0.0,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    0.1,
    1e21,
    9.999999999999999e20,
    1e-7,
    1.5e-7,
    9.99e-8,
    1e-6,
    123456789012345680000.0,
    1e16,
    1e15,
    100.0,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.2345e-300,
    0.000001234,
    2.0**53,
    2.0**53 + 2,
    2.0**64,
    1 / 3,
]
SPECIAL_INTS = [
    0,
    -1,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**64,
    10**21,
    10**21 - 1,
    10**22,
    -(10**30),
    10**308,
    10**309,
    2**1024,
    2**1024 - 2**970,
    2**1024 - 2**971,
]
INDEX_LIKE_KEYS = [
    "0",
    "1",
    "00",
    "01",
    "-1",
    "-0",
    "1.0",
    "4294967294",
    "4294967295",
    "4294967296",
    "99999999999",
    "__proto__",
    "",
    " 1",
    "1 ",
    "\x001",
    "\u0661",
]

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.sampled_from(SPECIAL_FLOATS),
    st.builds(lambda m, e: m * 10.0**e, st.integers(-999, 999), st.integers(-30, 30)),
)
ints = st.one_of(
    st.integers(-(2**60), 2**60),
    st.integers(-(10**400), 10**400),
    st.sampled_from(SPECIAL_INTS),
)
any_char = st.characters(codec=None, exclude_categories=())
texts = st.one_of(
    st.text(any_char, max_size=12),
    st.text(st.characters(max_codepoint=0x7F), max_size=12),
    st.text(
        st.sampled_from("\ud800\udbff\udc00\udfff\ud83d\ude00a\u2028\u2029\x7f\x00\x1f"), max_size=6
    ),
)
keys = st.one_of(
    texts,
    st.sampled_from(INDEX_LIKE_KEYS),
    st.integers(0, 2**32 + 3).map(str),
)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=6),
    ),
    max_leaves=25,
)
ascii_keys = st.one_of(
    st.text(st.characters(max_codepoint=0x7F), max_size=8),
    st.sampled_from(INDEX_LIKE_KEYS[:-1]),
)
ascii_keyed_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(ascii_keys, children, max_size=8),
    ),
    max_leaves=25,
)


@ORACLE_SETTINGS
@given(values=st.lists(json_values, min_size=10, max_size=30))
def test_dumps_matches_json_stringify(node_oracle: NodeOracle, values: list[Any]) -> None:
    """dumps(v, 2) and dumps(v, None) equal JSON.stringify(v, null, 2) and JSON.stringify(v)."""
    expected = node_oracle.stringify(values)
    got = [(dumps(v), dumps(v, indent=None)) for v in values]
    assert got == expected


@ORACLE_SETTINGS
@given(values=st.lists(st.one_of(floats, ints), min_size=50, max_size=100))
def test_number_text_matches_js(node_oracle: NodeOracle, values: list[float | int]) -> None:
    """Floats and ints print with JS Number-to-string digits, exponents and null for NaN/inf."""
    expected = [pair[1] for pair in node_oracle.stringify([values])]
    assert [dumps(values, indent=None)] == expected


@pytest.mark.parametrize("indent", [0, 1, 4, 10, 12, -3])
def test_dumps_indent_argument_like_js(node_oracle: NodeOracle, indent: int) -> None:
    """The indent argument is clamped to 0..10 spaces as JSON.stringify's space argument is."""
    value = {"a": [1, {"b": []}, {}], "2": "x"}
    expected = node_oracle.stringify([value], indent=indent)[0][0]
    assert dumps(value, indent=indent) == expected


def test_dumps_known_texts() -> None:
    """Spot values print exactly as documented for JSON.stringify."""
    assert dumps([1e21, 1e-7, 100.0, 1e16, -0.0, 123456789012345680000.0], None) == (
        "[1e+21,1e-7,100,10000000000000000,0,123456789012345680000]"
    )
    assert dumps([2**64, math.nan, -math.inf, 2**53], None) == (
        "[18446744073709552000,null,null,9007199254740992]"
    )
    assert dumps({"b": 1, "10": 2, "a": 3, "2": 4}, None) == '{"2":4,"10":2,"b":1,"a":3}'
    assert dumps("\x01\b\u2028\ud800\ud83d\ude00é", None) == '"\\u0001\\b\u2028\\ud800😀é"'
    assert dumps({"a": [], "b": {}}) == '{\n  "a": [],\n  "b": {}\n}'
    assert dumps(True, None) == "true"
    assert to_file_text({"x": 1}) == '{\n  "x": 1\n}\n'


def test_js_number_and_index_helpers() -> None:
    """js_number formats like String(x); is_array_index accepts only canonical indices."""
    assert [js_number(x) for x in (1.5, 2**70, 1e-7, 0.000001)] == [
        "1.5",
        "1.1805916207174113e+21",
        "1e-7",
        "0.000001",
    ]
    assert [is_array_index(k) for k in ("0", "4294967294", "4294967295", "01", "-1")] == [
        True,
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: 2}, "object keys must be str, found int 1"),
        ({"a": {1, 2}}, "value of type set is not JSON serializable: {1, 2}"),
        ([b"x"], "value of type bytes is not JSON serializable: b'x'"),
    ],
)
def test_dumps_rejects_non_json(value: Any, message: str) -> None:
    """Non-JSON values raise TypeError naming the offending type."""
    with pytest.raises(TypeError) as info:
        dumps(value)
    assert str(info.value) == message


def test_dumps_rejects_cycles() -> None:
    """A structure containing itself raises TypeError, as JSON.stringify does."""
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError) as info:
        dumps(cyclic)
    assert str(info.value) == (
        "value nests too deeply or contains itself; JSON.stringify rejects circular structures"
    )


def test_dumps_bool_and_subclasses() -> None:
    """bool prints as true/false (not 1/0); int, float and str subclasses print as their base."""

    class MyInt(int):
        pass

    class MyStr(str):
        pass

    assert dumps([True, False, MyInt(7), MyStr("s"), (1, 2)], None) == '[true,false,7,"s",[1,2]]'


text_mutations = st.sampled_from(
    [
        "NaN",
        "-Infinity",
        "Infinity",
        "1e400",
        "-0",
        "01",
        "1.",
        ".5",
        "9007199254740993",
        "123456789012345678901234567890",
        '{"a":1,"a":2,"b":3}',
        '{"b":1,"1":2,"b":3,"0":4}',
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        '"\t"',
        "\ufeff1",
        " \t\n\r1 ",
        "\u00a01",
        "[1,]",
        "{,}",
        "true",
        "nul",
        '"\\x41"',
        '"\\u00e9"',
        "1E+2",
        "-1e-7",
        '{"__proto__":1}',
    ]
)


@ORACLE_SETTINGS
@given(
    texts_=st.lists(
        st.one_of(
            json_values.map(lambda v: dumps(v, indent=None)),
            json_values.map(dumps),
            text_mutations,
            st.tuples(text_mutations, text_mutations).map(lambda p: f"[{p[0]},{p[1]}]"),
            st.tuples(keys, text_mutations).map(
                lambda p: "{" + json.dumps(p[0]) + ":" + p[1] + "}"
            ),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_loads_matches_json_parse(node_oracle: NodeOracle, texts_: list[str]) -> None:
    """loads accepts exactly what JSON.parse accepts and yields the value JS would hold."""
    expected = node_oracle.parse(texts_)
    for text, want in zip(texts_, expected, strict=True):
        if "error" in want:
            with pytest.raises(JsonParseError):
                loads(text)
        else:
            assert dumps(loads(text)) == want["ok"], text


def test_loads_number_types() -> None:
    """Safe integers stay int, larger integer literals become doubles, decimals stay float."""
    assert loads("[9007199254740992, 9007199254740993, 1.0, 1e2, -0]") == [
        9007199254740992,
        9007199254740992.0,
        1.0,
        100.0,
        0,
    ]
    big = loads("18446744073709551617")
    assert type(big) is float
    assert big == 2.0**64


def test_loads_duplicate_keys_and_order() -> None:
    """A duplicate key keeps its first position and last value; index keys move first."""
    value = loads('{"b":1,"a":2,"b":3,"10":4,"2":5,"02":6}')
    assert isinstance(value, dict)
    assert list(value.items()) == [("2", 5), ("10", 4), ("b", 3), ("a", 2), ("02", 6)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, NaN]", "Expecting value (NaN is not JSON): line 1 column 5 (char 4)"),
        ('{"NaN": -Infinity}', "Expecting value (-Infinity is not JSON): line 1 column 9 (char 8)"),
        ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
        ("", "Expecting value: line 1 column 1 (char 0)"),
        ('{"a":1}x', "Extra data: line 1 column 8 (char 7)"),
    ],
)
def test_loads_errors_carry_position(text: str, message: str) -> None:
    """Invalid JSON raises JsonParseError (a ValueError) whose text names line, column and char."""
    with pytest.raises(JsonParseError) as info:
        loads(text)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == message


def test_stable_clone_known_order() -> None:
    """stable_clone sorts keys by localeCompare, index keys first, and drops __proto__."""
    value = {
        "b": 1,
        "B": 2,
        "a": {"z": 1, "_": 2},
        "10": 3,
        "9": 4,
        "__proto__": 5,
        "-": [{"y": 0, "x": 1}],
    }
    assert list(stable_clone(value).items()) == [  # type: ignore[union-attr]
        ("9", 4),
        ("10", 3),
        ("-", [{"x": 1, "y": 0}]),
        ("a", {"_": 2, "z": 1}),
        ("b", 1),
        ("B", 2),
    ]
    assert list(stable_clone({"\x001": 1, "1": 2})) == ["1", "\x001"]  # type: ignore[arg-type]


@ORACLE_SETTINGS
@given(values=st.lists(ascii_keyed_values, min_size=1, max_size=20))
def test_stable_clone_matches_sdk(node_oracle: NodeOracle, values: list[Any]) -> None:
    """stable_clone then dumps equals the SDK's serializeTaskResult result, stringified."""
    if node_oracle.sdk_dist is None:
        pytest.skip("the babysitter SDK is not installed (npm install in the repo root)")
    expected = node_oracle.stable_clone(values)
    assert [dumps(stable_clone(v)) for v in values] == expected


def test_import_does_not_pull_gevent() -> None:
    """Importing protocol.jsonjs leaves gevent and subprocess unimported."""
    code = (
        "import sys, protocol.jsonjs, protocol.collate; "
        "print(sorted(m for m in ('gevent', 'subprocess') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
