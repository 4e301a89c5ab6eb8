"""ULIDs that keep the journal's order.

Rules kept here:

- A ULID is 26 Crockford base-32 characters: 10 for a 48-bit millisecond time, 16 for 80
  random bits. Journal file names carry one, and the SDK's replay fails the run unless each
  event's ULID is strictly greater, as a string, than the previous event's.
- :func:`next_ulid` is monotonic against the last ULID of the journal, like the ``ulid``
  package's ``monotonicFactory`` the SDK uses, but with the last ULID read from disk instead
  of kept in memory: its time part is ``max(now, time of the last ULID)`` and, when that equals
  the last time (same millisecond, or a clock that went backwards), the random part is the
  last one plus one. So appends stay ordered across processes, writers and clock steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["ALPHABET", "decode_ulid", "encode_ulid", "is_ulid", "next_ulid"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_TIME_MAX = (1 << 48) - 1
_RAND_MAX = (1 << 80) - 1


def encode_ulid(time_ms: int, randomness: int) -> str:
    """The ULID text for a millisecond time and an 80-bit random part."""
    if not 0 <= time_ms <= _TIME_MAX:
        raise ValueError(f"ULID time must be 0..2**48-1, found {time_ms}")
    if not 0 <= randomness <= _RAND_MAX:
        raise ValueError(f"ULID randomness must be 0..2**80-1, found {randomness}")
    value = (time_ms << 80) | randomness
    chars = []
    for _ in range(26):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(text: object) -> bool:
    """True for a canonical (upper-case) 26-character ULID."""
    return (
        isinstance(text, str)
        and len(text) == 26
        and text[0] <= "7"
        and all(ch in _VALUE for ch in text)
    )


def decode_ulid(text: str) -> tuple[int, int]:
    """``(time_ms, randomness)`` of a canonical ULID; ``ValueError`` otherwise."""
    if not is_ulid(text):
        raise ValueError(f"not a canonical ULID: {text!r}")
    value = 0
    for ch in text:
        value = (value << 5) | _VALUE[ch]
    return value >> 80, value & _RAND_MAX


def next_ulid(
    now_ms: int, after: str | None = None, *, entropy: Callable[[int], bytes] = os.urandom
) -> str:
    """A new ULID for time ``now_ms``, strictly greater than ``after`` when one is given.

    Raises ``ValueError`` when ``after`` is not a canonical ULID (nothing canonical is
    guaranteed to sort after it).
    """
    fresh = int.from_bytes(entropy(10), "big") & _RAND_MAX
    if after is None:
        return encode_ulid(now_ms, fresh)
    last_time, last_rand = decode_ulid(after)
    if now_ms > last_time:
        result = encode_ulid(now_ms, fresh)
    elif last_rand < _RAND_MAX:
        result = encode_ulid(last_time, last_rand + 1)
    else:
        result = encode_ulid(last_time + 1, fresh)
    assert result > after
    return result
