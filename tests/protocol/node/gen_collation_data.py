"""Regenerate protocol/_collation_data.py from ICU's root collator, checked against Node.

Needs PyICU (the ``icu`` module; the ``pyicu-wheels`` wheel bundles ICU) and ``node`` on PATH:

    python -m venv /tmp/icuvenv && /tmp/icuvenv/bin/pip install pyicu-wheels
    /tmp/icuvenv/bin/python tests/protocol/node/gen_collation_data.py

Steps: read every code point's collation elements (CEs) from ICU's root collator (normalization
on, as V8 sets it); find the root contractions (and prefix-dependent pairs such as kana + U+30FC)
by comparing ``ces(c + d)`` with ``ces(c) + ces(d)`` for each assigned character ``c`` against
combining marks and the characters of its own block; replace 32-bit primary weights by dense
ranks; and ask Node to sort every ASCII character and every two-character ASCII string with
``localeCompare``, failing unless the table gives exactly Node's order.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import unicodedata
import zlib
from multiprocessing import Pool
from pathlib import Path

import icu  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parents[3] / "protocol" / "_collation_data.py"
COMMON = 0x0500
TERTIARY_MASK = 0x3F3F
UNASSIGNED_LEAD = 0xFE

_collator = icu.Collator.createInstance(icu.Locale.getRoot())
_collator.setAttribute(icu.UCollAttribute.NORMALIZATION_MODE, icu.UCollAttributeValue.ON)
_NULL = icu.CollationElementIterator.NULLORDER

CE = tuple[int, int, int]


def ces(s: str) -> tuple[CE, ...]:
    """The 64-bit CEs of ``s`` as (primary32, secondary16, tertiary16) with zero CEs dropped."""
    it = _collator.createCollationElementIterator(s)
    halves = []
    while (x := it.next()) != _NULL:
        halves.append(x & 0xFFFFFFFF)
    out = []
    i = 0
    while i < len(halves):
        first = halves[i]
        second = 0
        if i + 1 < len(halves) and (halves[i + 1] & 0xC0) == 0xC0:
            second = halves[i + 1]
            i += 2
        else:
            i += 1
        p = (first & 0xFFFF0000) | (second >> 16)
        sec = ((first >> 8) & 0xFF) << 8 | ((second >> 8) & 0xFF)
        ter = ((first & 0xFF) << 8) | (second & 0x3F)
        if p or sec or ter:
            out.append((p, sec, ter))
    return tuple(out)


def is_unassigned_implicit(ce: tuple[CE, ...]) -> bool:
    return len(ce) == 1 and ce[0][0] >> 24 == UNASSIGNED_LEAD and ce[0][1:] == (COMMON, COMMON)


_TABLE: dict[int, tuple[CE, ...]] = {}


def _pair_work(args: tuple[list[int], list[int]]) -> list[tuple[str, tuple[CE, ...]]]:
    starters, marks = args
    table = _TABLE
    extra = [0xB7, 0x387, 0x3005, 0x3031, 0x3032, 0x309D, 0x309E, 0x30FC, 0x30FD, 0x30FE]
    found = []
    for c in starters:
        block = c & ~0x7F
        followers = set(marks) | set(extra) | {d for d in range(block, block + 0x80) if d in table}
        for d in followers:
            s = chr(c) + chr(d)
            if unicodedata.normalize("NFD", s) != s:
                continue
            got = ces(s)
            if got != table[c] + table[d]:
                found.append((s, got))
    return found


def find_pairs(starters: list[int], marks: list[int]) -> dict[str, tuple[CE, ...]]:
    """Pairs whose CEs are not the concatenation of their characters' CEs (slow: minutes).

    Set GEN_COLLATION_CACHE to a file path to keep the result between runs.
    """
    cache = os.environ.get("GEN_COLLATION_CACHE")
    if cache and Path(cache).is_file():
        return {k: tuple(map(tuple, v)) for k, v in json.loads(Path(cache).read_text()).items()}
    with Pool() as pool:
        chunks = pool.map(_pair_work, [(starters[i::32], marks) for i in range(32)])
    pairs = dict(x for chunk in chunks for x in chunk)
    if cache:
        Path(cache).write_text(json.dumps(pairs))
    return pairs


def main() -> None:
    print(f"ICU {icu.ICU_VERSION}, Unicode {icu.UNICODE_VERSION}", file=sys.stderr)
    table = _TABLE
    table.update((cp, ces(chr(cp))) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    explicit = {cp: ce for cp, ce in table.items() if not is_unassigned_implicit(ce)}
    implicit = [cp for cp, ce in table.items() if is_unassigned_implicit(ce)]
    assert [table[cp][0][0] for cp in implicit] == sorted(table[cp][0][0] for cp in implicit)

    marks = [cp for cp in table if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")]
    starters = [
        cp
        for cp in explicit
        if unicodedata.category(chr(cp)) != "Cn"
        and unicodedata.normalize("NFD", chr(cp)) == chr(cp)
    ]
    contractions = find_pairs(starters, marks)

    def naive(s: str) -> tuple[CE, ...]:
        out: tuple[CE, ...] = ()
        i = 0
        while i < len(s):
            for size in (3, 2):
                if s[i : i + size] in contractions:
                    out += contractions[s[i : i + size]]
                    i += size
                    break
            else:
                out += table[ord(s[i])]
                i += 1
        return out

    for pair in list(contractions):
        block = ord(pair[0]) & ~0x7F
        for e in set(marks) | {x for x in range(block, block + 0x80) if x in table}:
            s = pair + chr(e)
            if unicodedata.normalize("NFD", s) == s and (got := ces(s)) != naive(s):
                contractions[s] = got
    print(f"{len(explicit)} explicit, {len(contractions)} contractions", file=sys.stderr)

    primaries = {p for ce in (*explicit.values(), *contractions.values()) for p, _, _ in ce if p}
    assert not any(p >> 24 == UNASSIGNED_LEAD for p in primaries)
    low = sorted(p for p in primaries if p >> 24 < UNASSIGNED_LEAD)
    high = sorted(p for p in primaries if p >> 24 > UNASSIGNED_LEAD)
    rank = {p: i + 1 for i, p in enumerate(low)}
    unassigned_rank = len(low) + 1
    rank.update({p: unassigned_rank + 1 + i for i, p in enumerate(high)})
    assert max(rank.values()) < 0x110000

    def ranked(ce: tuple[CE, ...]) -> list[tuple[int, int, int]]:
        return [(rank.get(p, 0), s, t & TERTIARY_MASK) for p, s, t in ce]

    palette: dict[tuple[int, int], int] = {}
    for ce in (*explicit.values(), *contractions.values()):
        for _, s, t in ranked(ce):
            palette.setdefault((s, t), len(palette))

    out = bytearray()

    def varint(v: int) -> None:
        assert v >= 0
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)

    prev_rank = 0

    def write_ces(ce: tuple[CE, ...]) -> None:
        nonlocal prev_rank
        items = ranked(ce)
        varint(len(items))
        for r, s, t in items:
            if r:
                delta = r - prev_rank
                varint(((delta << 1) ^ (delta >> 63)) + 1)
                prev_rank = r
            else:
                varint(0)
            varint(palette[(s, t)])

    varint(len(palette))
    for s, t in palette:
        varint(s)
        varint(t)
    varint(len(explicit))
    prev_cp = 0
    for cp in sorted(explicit):
        varint(cp - prev_cp)
        prev_cp = cp
        write_ces(explicit[cp])
    varint(len(contractions))
    for seq in sorted(contractions):
        varint(len(seq))
        for ch in seq:
            varint(ord(ch))
        write_ces(contractions[seq])
    blob = base64.b85encode(zlib.compress(bytes(out), 9)).decode("ascii")

    ascii_primary = [ranked(table[i])[0][0] if table[i] else 0 for i in range(128)]
    ascii_tertiary = [ranked(table[i])[0][2] if table[i] else 0 for i in range(128)]
    assert all(len(table[i]) <= 1 for i in range(128))
    assert all(ranked(table[i])[0][1] == COMMON for i in range(128) if table[i])
    check_ascii_against_node(ascii_primary, ascii_tertiary)

    lines = [
        '"""Collation tables for protocol.collate (generated; do not edit).',
        "",
        "Produced by tests/protocol/node/gen_collation_data.py from the root collator of",
        f"ICU {icu.ICU_VERSION} (Unicode {icu.UNICODE_VERSION}) with normalization on, as V8",
        "configures localeCompare. Primary weights are dense ranks of ICU's primaries, secondary",
        "weights are ICU's, tertiary weights are ICU's with the case bits masked off (0x3f3f).",
        "The ASCII tables were checked against Node's localeCompare order of every ASCII",
        "character and every two-character ASCII string when this file was generated.",
        "",
        "Where Node can differ: characters added after this Unicode version (Node 20 may",
        "ship a newer ICU), discontiguous contractions (Tibetan vowel sequences), and",
        "prefix-dependent weights other than the character pairs found by the generator.",
        '"""',
        "",
        f'ICU_VERSION = "{icu.ICU_VERSION}"',
        f'UNICODE_VERSION = "{icu.UNICODE_VERSION}"',
        f"COMMON_SECONDARY = 0x{COMMON:04x}",
        f"UNASSIGNED_RANK = {unassigned_rank}",
        "",
        "# Primary rank of each ASCII character (0: completely ignorable, e.g. C0 controls).",
        "ASCII_PRIMARY = (",
        *wrap_ints(ascii_primary),
        ")",
        "# Tertiary weight of each ASCII character (uppercase letters above lowercase).",
        "ASCII_TERTIARY = (",
        *wrap_ints(ascii_tertiary),
        ")",
        "",
        "# zlib + base85: palette of (secondary, tertiary) pairs, then per code point and per",
        "# contraction the collation elements as varints (primary ranks delta-coded).",
        "TABLE = (",
        *(f'    "{blob[i : i + 92]}"' for i in range(0, len(blob), 92)),
        ")",
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


def wrap_ints(values: list[int]) -> list[str]:
    rows = []
    for i in range(0, len(values), 12):
        rows.append("    " + " ".join(f"{v}," for v in values[i : i + 12]))
    return rows


def check_ascii_against_node(primary: list[int], tertiary: list[int]) -> None:
    strings = [chr(a) for a in range(128)] + [
        chr(a) + chr(b) for a in range(128) for b in range(128)
    ]
    script = (
        "const l = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const idx = l.map((s, i) => [s, i]).sort((a, b) => a[0].localeCompare(b[0]));"
        "const eq = idx.slice(1).map((p, i) => idx[i][0].localeCompare(p[0]) === 0);"
        "process.stdout.write(JSON.stringify([idx.map((p) => p[1]), eq]));"
    )
    done = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(strings),
        capture_output=True,
        text=True,
        check=True,
    )
    node_order, node_equal = json.loads(done.stdout)

    def key(s: str) -> tuple[list[int], list[int], list[int]]:
        p = [primary[ord(c)] for c in s if primary[ord(c)]]
        return (p, [COMMON] * len(p), [tertiary[ord(c)] for c in s if tertiary[ord(c)]])

    ours = sorted(range(len(strings)), key=lambda i: key(strings[i]))
    ours_equal = [key(strings[a]) == key(strings[b]) for a, b in itertools.pairwise(ours)]
    assert ours == node_order, "ASCII order differs from Node's localeCompare"
    assert ours_equal == node_equal, "ASCII equalities differ from Node's localeCompare"
    print(f"ASCII tables agree with Node on {len(strings)} strings", file=sys.stderr)


if __name__ == "__main__":
    main()
