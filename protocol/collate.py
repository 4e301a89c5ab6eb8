"""String comparison matching Node's ``String.prototype.localeCompare`` (ICU root collation)."""

from __future__ import annotations

__all__ = ["locale_compare", "locale_compare_key"]


def locale_compare_key(s: str) -> tuple[int, ...]:
    """A sort key: ``sorted(keys, key=locale_compare_key)`` orders as ``localeCompare``."""
    return tuple(map(ord, s))


def locale_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a.localeCompare(b)`` returns."""
    ka, kb = locale_compare_key(a), locale_compare_key(b)
    return (ka > kb) - (ka < kb)
