"""protocol.collate orders strings as Node's String.prototype.localeCompare does."""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.collate import locale_compare, locale_compare_key

if TYPE_CHECKING:
    from conftest import NodeOracle

# ORACLE_EXAMPLES raises the example count for a longer soak run against node.
ORACLE_SETTINGS = settings(
    max_examples=int(os.environ.get("ORACLE_EXAMPLES", "0")) or 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Weighted toward the characters whose order is easy to get wrong: case pairs, punctuation,
# digits, whitespace and the completely ignorable controls.
TRICKY_ASCII = "aAbBzZ09_-.,:;!?'\"()[]{}@*/\\&#%`^+<=>|~$ \t\n\x00\x01\x1f\x7f"
ascii_strings = st.one_of(
    st.text(st.characters(max_codepoint=0x7F), max_size=10),
    st.text(st.sampled_from(TRICKY_ASCII), max_size=6),
    st.text(st.sampled_from("aAbB_-0"), max_size=4),
)


@ORACLE_SETTINGS
@given(lists=st.lists(st.lists(ascii_strings, min_size=2, max_size=25), min_size=1, max_size=8))
def test_ascii_sort_matches_node(node_oracle: NodeOracle, lists: list[list[str]]) -> None:
    """Sorting ASCII strings by locale_compare_key gives the exact order of a localeCompare sort."""
    expected = node_oracle.sort(lists)
    got = [sorted(range(len(x)), key=lambda i, x=x: locale_compare_key(x[i])) for x in lists]
    assert got == expected


@ORACLE_SETTINGS
@given(pairs=st.lists(st.tuples(ascii_strings, ascii_strings), min_size=1, max_size=60))
def test_ascii_compare_matches_node(node_oracle: NodeOracle, pairs: list[tuple[str, str]]) -> None:
    """locale_compare(a, b) returns exactly a.localeCompare(b) (-1, 0 or 1) for ASCII strings."""
    assert [locale_compare(a, b) for a, b in pairs] == node_oracle.compare(pairs)


def test_known_ascii_order() -> None:
    """Case only breaks ties, punctuation sorts before digits before letters, controls vanish."""
    words = ["b", "B", "a", "A", "_a", "-a", "1", "a1", "A1", "ab", "Ab", "a\x01", ""]
    assert sorted(words, key=locale_compare_key) == [
        "",
        "_a",
        "-a",
        "1",
        "a",
        "a\x01",
        "A",
        "a1",
        "A1",
        "ab",
        "Ab",
        "b",
        "B",
    ]
    assert locale_compare("a", "a\x01") == 0
    assert locale_compare("a", "B") == -1
    assert locale_compare("b", "A") == 1


def test_known_unicode_order() -> None:
    """Accents rank after case-insensitive letters, and canonically equal strings are equal."""
    assert locale_compare("\u00e9", "e\u0301") == 0
    assert locale_compare("a\u0301\u0327", "a\u0327\u0301") == 0
    assert sorted(["f", "\u00e9", "e", "E", "\u00c9", "d"], key=locale_compare_key) == [
        "d",
        "e",
        "E",
        "\u00e9",
        "\u00c9",
        "f",
    ]
    assert locale_compare("\ud83d\ude00", "\U0001f600") == 0


def _unicode_samples(rng: random.Random) -> list[str]:
    pools = {
        "latin": "aeiouAEIOUcnszCNSZ\u00e0\u00e1\u00e2\u00e4\u00e5\u00e6\u00e7\u00e8\u00e9"
        "\u00f1\u00f6\u00f8\u00fc\u00df\u0153\u0142\u00c0\u00c9\u00d1\u00d6\u00dc\u0301\u0308",
        "greek": "\u03b1\u03b2\u03b3\u03b4\u03b5\u03ac\u03ad\u0391\u0392\u0393\u03c9"
        "\u03ce\u03a9\u1f00",
        "cyrillic": "\u0430\u0431\u0432\u0433\u0434\u0435\u0451\u0416\u0419\u0439\u044f\u042f",
        "cjk": "\u4e00\u4e01\u4e8c\u4eba\u5927\u65e5\u6708\u3042\u3044\u30a2\u30ab\u30fc"
        "\uac00\uac01",
        "emoji": "\U0001f600\U0001f601\U0001f44d\U0001f3fb\u2764\ufe0f\u200d\U0001f680\u2600",
        "mixed": "aA1_-. \u00e9\u03b1\u0430\u4e00\U0001f600\u00a0\u2028\u00b7l\u0e40\u0e01",
    }
    samples = []
    for chars in pools.values():
        for _ in range(60):
            samples.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 5))))
    return samples


def test_unicode_agreement_with_node(node_oracle: NodeOracle) -> None:
    """On Latin, Greek, Cyrillic, CJK and emoji samples, locale_compare agrees with Node."""
    rng = random.Random(20260101)
    samples = _unicode_samples(rng)
    pairs = [(rng.choice(samples), rng.choice(samples)) for _ in range(5000)]
    expected = node_oracle.compare(pairs)
    got = [locale_compare(a, b) for a, b in pairs]
    mismatches = [(p, e, g) for p, e, g in zip(pairs, expected, got, strict=True) if e != g]
    assert mismatches == []


@pytest.mark.parametrize("start", [0x00A0, 0x0370, 0x0400, 0x0E00, 0x3040, 0x4E00, 0xAC00, 0x1F300])
def test_unicode_blocks_agree_with_node(node_oracle: NodeOracle, start: int) -> None:
    """Every character of a block sorts among its neighbours exactly as localeCompare sorts it."""
    chars = [chr(cp) for cp in range(start, start + 0x100)]
    words = [c + "a" for c in chars] + chars + ["a" + c for c in chars]
    order = node_oracle.sort([words])[0]
    assert sorted(range(len(words)), key=lambda i: locale_compare_key(words[i])) == order
