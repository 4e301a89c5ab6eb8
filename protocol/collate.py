"""``String.prototype.localeCompare`` in Python: Node 20's ICU root collation, tertiary strength.

Rules kept here (the SDK sorts object keys with ``(a, b) => a.localeCompare(b)``; the order of
keys in every result.json depends on it):

- Collation is ICU's root (CLDR default) order as V8 configures it for ``localeCompare``
  without a locale: tertiary strength, punctuation and symbols not ignorable, lowercase
  before uppercase only at the tertiary level, normalization on (canonically equivalent
  strings compare equal), no identical level (so strings that differ only in completely
  ignorable characters, such as most C0 controls, compare equal).
- A string's key is three level strings (primary, secondary, tertiary weights, zero weights
  left out); tuples of them compare exactly as ICU compares collation elements level by
  level, a shorter sequence that is a prefix of a longer one sorting first.
- ASCII strings take a fast path through tables that cover every ASCII character. These are
  exact: ``tests/protocol/test_collate.py`` checks them against Node on random ASCII lists.
- Other strings use collation elements extracted from ICU's root collator (see
  ``protocol/_collation_data.py`` for how they were produced). Where they can differ from
  Node: characters newer than the table's Unicode version (Node's ICU may know them; here
  they sort as unassigned code points, after every assigned character), Tibetan vowel
  sequences that ICU matches as discontiguous contractions, and prefix-dependent weights
  beyond the character pairs recorded in the table.
"""

from __future__ import annotations

import base64
import unicodedata
import zlib
from array import array
from bisect import bisect_left
from functools import lru_cache

from protocol import _collation_data as _data

__all__ = ["locale_compare", "locale_compare_key"]

CollationKey = tuple[str, str, str]

_COMMON = chr(_data.COMMON_SECONDARY)
_ASCII_PRIMARY: dict[int, str | None] = {
    i: (chr(p) if p else None) for i, p in enumerate(_data.ASCII_PRIMARY)
}
_ASCII_SECONDARY: dict[int, str | None] = {
    i: (_COMMON if p else None) for i, p in enumerate(_data.ASCII_PRIMARY)
}
_ASCII_TERTIARY: dict[int, str | None] = {
    i: (chr(t) if t else None) for i, t in enumerate(_data.ASCII_TERTIARY)
}


def locale_compare_key(s: str) -> CollationKey:
    """A sort key: ``sorted(keys, key=locale_compare_key)`` orders as ``localeCompare`` does.

    Keys of strings that ``localeCompare`` calls equal are equal, so a stable sort keeps
    them in their original order, as V8's stable ``Array.prototype.sort`` does.
    """
    if s.isascii():
        return (
            s.translate(_ASCII_PRIMARY),
            s.translate(_ASCII_SECONDARY),
            s.translate(_ASCII_TERTIARY),
        )
    return _unicode_key(s)


def locale_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a.localeCompare(b)`` returns."""
    ka, kb = locale_compare_key(a), locale_compare_key(b)
    return (ka > kb) - (ka < kb)


class _Table:
    def __init__(self) -> None:
        raw = zlib.decompress(base64.b85decode(_data.TABLE))
        pos = 0

        def varint() -> int:
            nonlocal pos
            shift = value = 0
            while True:
                byte = raw[pos]
                pos += 1
                value |= (byte & 0x7F) << shift
                if byte < 0x80:
                    return value
                shift += 7

        palette = [(varint(), varint()) for _ in range(varint())]
        prev_rank = 0

        def read_ces(p: array[int], s: array[int], t: array[int]) -> None:
            nonlocal prev_rank
            for _ in range(varint()):
                field = varint()
                if field:
                    delta = field - 1
                    prev_rank += (delta >> 1) ^ -(delta & 1)
                    p.append(prev_rank)
                else:
                    p.append(0)
                sec, ter = palette[varint()]
                s.append(sec)
                t.append(ter)

        self.cps = array("I")
        self.start = array("I")
        self.p = array("I")
        self.s = array("H")
        self.t = array("H")
        cp = 0
        for _ in range(varint()):
            cp += varint()
            self.cps.append(cp)
            self.start.append(len(self.p))
            read_ces(self.p, self.s, self.t)
        self.start.append(len(self.p))
        self.contractions: dict[str, CollationKey] = {}
        for _ in range(varint()):
            seq = "".join(chr(varint()) for _ in range(varint()))
            p, s, t = array("I"), array("H"), array("H")
            read_ces(p, s, t)
            self.contractions[seq] = _fragments(p, s, t, 0, len(p))
        self.starters = frozenset(seq[0] for seq in self.contractions)
        self.max_contraction = max((len(k) for k in self.contractions), default=1)


def _fragments(p: array[int], s: array[int], t: array[int], lo: int, hi: int) -> CollationKey:
    return (
        "".join(chr(p[i]) for i in range(lo, hi) if p[i]),
        "".join(chr(s[i]) for i in range(lo, hi) if s[i]),
        "".join(chr(t[i]) for i in range(lo, hi) if t[i]),
    )


@lru_cache(maxsize=1)
def _table() -> _Table:
    return _Table()


@lru_cache(maxsize=8192)
def _char_fragments(ch: str) -> CollationKey:
    table = _table()
    cp = ord(ch)
    i = bisect_left(table.cps, cp)
    if i < len(table.cps) and table.cps[i] == cp:
        return _fragments(table.p, table.s, table.t, table.start[i], table.start[i + 1])
    # Unassigned code points and lone surrogates: ICU gives them implicit primaries that
    # follow every assigned character except U+FFFD and U+FFFF, in code point order.
    return (chr(_data.UNASSIGNED_RANK) + chr(cp), _COMMON, _COMMON)


def _unicode_key(s: str) -> CollationKey:
    if any("\ud800" <= ch <= "\udfff" for ch in s):
        # A Python str may hold a UTF-16 pair as two code points; JS sees one character.
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    s = unicodedata.normalize("NFD", s)
    table = _table()
    starters = table.starters
    contractions = table.contractions
    longest = table.max_contraction
    primary: list[str] = []
    secondary: list[str] = []
    tertiary: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        ch = s[i]
        frag: CollationKey | None = None
        if ch in starters:
            for size in range(min(longest, n - i), 1, -1):
                frag = contractions.get(s[i : i + size])
                if frag is not None:
                    i += size
                    break
        if frag is None:
            frag = _char_fragments(ch)
            i += 1
        primary.append(frag[0])
        secondary.append(frag[1])
        tertiary.append(frag[2])
    return ("".join(primary), "".join(secondary), "".join(tertiary))
