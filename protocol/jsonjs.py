"""JSON text exactly as Node's ``JSON.stringify`` writes it and ``JSON.parse`` reads it.

Rules kept here (every JSON file of a run is written by the SDK with
``JSON.stringify(value, null, 2) + "\\n"``; ours must be byte-identical):

- Strings: ``"`` and ``\\`` escaped, control characters below U+0020 as ``\\b \\t \\n \\f \\r``
  or ``\\u00xx`` (lowercase hex); everything else raw, U+2028/U+2029 included. A lone
  surrogate is escaped as ``\\udxxx`` (well-formed ``JSON.stringify``); a high+low pair held
  as two code points is written as the one character it encodes, as JS would.
- Numbers: the shortest digits that round-trip (``Number.prototype.toString``): plain
  notation for 1e-7 <= |x| < 1e21, otherwise ``1e+21`` / ``1.5e-7`` style; ``-0`` prints
  ``0``; NaN and the infinities print ``null``. A Python int beyond 2**53 prints as the
  nearest double would.
- Objects: keys in JS own-property order: canonical array-index keys ("0".."4294967294")
  first in ascending numeric order, then the other keys in insertion order.
- Empty arrays and objects are ``[]`` and ``{}`` even when indenting.
- ``loads`` follows ``JSON.parse``: no NaN/Infinity literals, numbers are doubles (ints are
  kept as ``int`` only while they are safe integers), a duplicate key keeps its first
  position and its last value, objects are re-ordered by JS own-key order.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from json.encoder import encode_basestring
from math import isfinite
from typing import Any, TypeAlias

from protocol.collate import locale_compare_key

__all__ = [
    "JsonParseError",
    "JsonValue",
    "dumps",
    "is_array_index",
    "js_key_order",
    "js_number",
    "loads",
    "stable_clone",
    "to_file_text",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

_MAX_SAFE = 2**53
_MAX_INDEX = 4294967294

# A key can only be an array index if, joined with NUL separators, some piece is all digits
# of at most ten characters. False positives (keys holding NUL) only cost the exact check.
_MAYBE_INDEX = re.compile(r"(?:^|\x00)(?:0|[1-9][0-9]{0,9})(?:\x00|$)")
_CANONICAL_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")
_SURROGATE = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


def is_array_index(key: str) -> bool:
    """True when ``key`` is a canonical JS array index ("0".."4294967294")."""
    return _CANONICAL_INDEX.fullmatch(key) is not None and int(key) <= _MAX_INDEX


def _has_index_key(keys: Any) -> bool:
    try:
        joined = "\x00".join(keys)
    except TypeError:
        for key in keys:
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(
                    f"object keys must be str, found {type(key).__name__} {key!r}"
                ) from None
        raise
    return _MAYBE_INDEX.search(joined) is not None


def _ordered_keys(obj: dict[str, Any]) -> list[str]:
    index: list[tuple[int, str]] = []
    rest: list[str] = []
    for key in obj:
        if is_array_index(key):
            index.append((int(key), key))
        else:
            rest.append(key)
    index.sort()
    return [k for _, k in index] + rest


def js_key_order(obj: dict[str, Any]) -> dict[str, Any]:
    """Return ``obj`` (or a re-ordered copy) with keys in JS own-property order."""
    if not obj or not _has_index_key(obj):
        return obj
    return {k: obj[k] for k in _ordered_keys(obj)}


def _sci_to_js(text: str) -> str:
    # text is Python's repr of a finite non-zero float in exponent form, e.g. "-1.5e-07".
    sign = ""
    if text[0] == "-":
        sign = "-"
        text = text[1:]
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.replace(".", "")
    k = len(digits)
    n = int(exp_text) + 1  # value = 0.digits * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exp = n - 1
    exp_part = ("e+" if exp >= 0 else "e-") + str(abs(exp))
    if k == 1:
        return sign + digits + exp_part
    return sign + digits[0] + "." + digits[1:] + exp_part


def _float_text(x: float) -> str:
    if not isfinite(x):
        return "null"
    if x == 0.0:
        return "0"
    text = float.__repr__(x)
    if "e" in text:
        return _sci_to_js(text)
    if text.endswith(".0"):
        return text[:-2]
    return text


def _int_text(i: int) -> str:
    if -_MAX_SAFE <= i <= _MAX_SAFE:
        return int.__repr__(i)
    try:
        return _float_text(float(i))
    except OverflowError:
        return "null"


def js_number(x: int | float) -> str:
    """The text ``String(x)`` gives in JS for a number (``null`` for non-finite ones)."""
    if isinstance(x, bool):
        raise TypeError(f"expected a number, found bool {x!r}")
    if isinstance(x, int):
        return _int_text(x)
    return _float_text(float(x))


def _fix_surrogate(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) == 2:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return f"\\u{ord(text):04x}"


def _type_error(value: object) -> TypeError:
    return TypeError(
        f"value of type {type(value).__name__} is not JSON serializable: {value!r:.80}"
    )


def _make_encoder(indent_unit: str | None) -> Callable[[object], str]:
    key_sep = ": " if indent_unit else ":"

    def encode(value: object) -> str:
        parts: list[str] = []
        append = parts.append
        estr = encode_basestring

        def scalar(v: object) -> str:
            t = type(v)
            if t is str:
                return estr(v)  # type: ignore[arg-type]
            if v is None:
                return "null"
            if v is True:
                return "true"
            if v is False:
                return "false"
            if t is int:
                return _int_text(v)  # type: ignore[arg-type]
            if t is float:
                return _float_text(v)  # type: ignore[arg-type]
            if isinstance(v, str):
                return estr(str(v))
            if isinstance(v, int):
                return _int_text(int(v))
            if isinstance(v, float):
                return _float_text(float(v))
            raise _type_error(v)

        def enc_list(o: list[Any] | tuple[Any, ...], nl: str) -> None:
            if not o:
                append("[]")
                return
            if indent_unit:
                inner = nl + indent_unit
                sep = "," + inner
                append("[" + inner)
            else:
                inner = nl
                sep = ","
                append("[")
            first = True
            for v in o:
                if first:
                    first = False
                else:
                    append(sep)
                t = type(v)
                if t is str:
                    append(estr(v))
                elif t is dict:
                    enc_dict(v, inner)
                elif t is list:
                    enc_list(v, inner)
                elif isinstance(v, dict):
                    enc_dict(v, inner)
                elif isinstance(v, (list, tuple)):
                    enc_list(v, inner)
                else:
                    append(scalar(v))
            append((nl + "]") if indent_unit else "]")

        def enc_dict(o: dict[Any, Any], nl: str) -> None:
            if not o:
                append("{}")
                return
            if indent_unit:
                inner = nl + indent_unit
                sep = "," + inner
                append("{" + inner)
            else:
                inner = nl
                sep = ","
                append("{")
            keys: Any = o
            if _has_index_key(o):
                keys = _ordered_keys(o)
            first = True
            for k in keys:
                v = o[k]
                if first:
                    first = False
                else:
                    append(sep)
                append(estr(k))
                append(key_sep)
                t = type(v)
                if t is str:
                    append(estr(v))
                elif t is dict:
                    enc_dict(v, inner)
                elif t is list:
                    enc_list(v, inner)
                elif isinstance(v, dict):
                    enc_dict(v, inner)
                elif isinstance(v, (list, tuple)):
                    enc_list(v, inner)
                else:
                    append(scalar(v))
            append((nl + "}") if indent_unit else "}")

        if isinstance(value, dict):
            enc_dict(value, "\n")
        elif isinstance(value, (list, tuple)):
            enc_list(value, "\n")
        else:
            append(scalar(value))
        try:
            out = "".join(parts)
        except TypeError as exc:  # pragma: no cover - every part is a str
            raise _type_error(value) from exc
        if not out.isascii() and _SURROGATE.search(out) is not None:
            out = _SURROGATE.sub(_fix_surrogate, out)
        return out

    return encode


_ENCODERS: dict[str | None, Callable[[object], str]] = {}


def _encoder_for(indent: int | str | None) -> Callable[[object], str]:
    # JSON.stringify's space argument: a number is clamped to 10 spaces (below 1 means none),
    # a string is cut to its first 10 characters.
    if indent is None or isinstance(indent, bool):
        unit = None
    elif isinstance(indent, int):
        unit = " " * min(indent, 10) if indent >= 1 else None
    else:
        unit = indent[:10] or None
    encoder = _ENCODERS.get(unit)
    if encoder is None:
        encoder = _ENCODERS[unit] = _make_encoder(unit)
    return encoder


def dumps(value: JsonValue, indent: int | str | None = 2) -> str:
    """Return ``JSON.stringify(value, null, indent)`` (no trailing newline).

    Raises ``TypeError`` for values that are not JSON (sets, bytes, objects, non-str keys) and
    for structures that contain themselves.
    """
    try:
        return _encoder_for(indent)(value)
    except RecursionError:
        raise TypeError(
            "value nests too deeply or contains itself; JSON.stringify rejects circular structures"
        ) from None


def to_file_text(value: JsonValue) -> str:
    """The text the SDK writes for a JSON file: ``JSON.stringify(value, null, 2) + "\\n"``."""
    return dumps(value, 2) + "\n"


class JsonParseError(json.JSONDecodeError):
    """Text that ``JSON.parse`` would reject; carries ``pos``, ``lineno`` and ``colno``."""


def _reject_constant(name: str) -> Any:
    raise _ConstantFound(name)


class _ConstantFound(Exception):
    pass


def _parse_int(text: str) -> int | float:
    value = int(text)
    if -_MAX_SAFE <= value <= _MAX_SAFE:
        return value
    return float(text)


def _object_hook(obj: dict[str, Any]) -> dict[str, Any]:
    if _MAYBE_INDEX.search("\x00".join(obj)) is None:
        return obj
    return {k: obj[k] for k in _ordered_keys(obj)}


_DECODER = json.JSONDecoder(
    object_hook=_object_hook, parse_int=_parse_int, parse_constant=_reject_constant, strict=True
)
_STRING_OR_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)', re.DOTALL)


def loads(text: str) -> JsonValue:
    """Parse ``text`` as ``JSON.parse`` does; raise ``JsonParseError`` (a ValueError) if invalid."""
    if not isinstance(text, str):
        raise TypeError(f"loads expects str, found {type(text).__name__}")
    try:
        value: JsonValue = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonParseError(exc.msg, exc.doc, exc.pos) from None
    except _ConstantFound as exc:
        pos = 0
        for match in _STRING_OR_CONSTANT.finditer(text):
            if match.group(1) is not None:
                pos = match.start(1)
                break
        raise JsonParseError(f"Expecting value ({exc.args[0]} is not JSON)", text, pos) from None
    except RecursionError:
        raise JsonParseError("Nesting too deep", text, 0) from None
    return value


def stable_clone(value: JsonValue) -> JsonValue:
    """The SDK's ``stableClone``: object keys sorted by ``localeCompare``, recursively.

    The clone is a fresh JS object, so JS own-key order then puts index keys first. A
    ``"__proto__"`` key is dropped: assigning it on a plain object sets the prototype instead
    of creating an own property.
    """
    t = type(value)
    if t is dict or isinstance(value, dict):
        obj: dict[str, Any] = value  # type: ignore[assignment]
        # Object.keys lists index keys first; the sort is stable, so that order breaks ties
        # between keys localeCompare calls equal (e.g. "1" and "\x001").
        keys = sorted(_ordered_keys(obj) if _has_index_key(obj) else obj, key=locale_compare_key)
        clone = {k: stable_clone(obj[k]) for k in keys if k != "__proto__"}
        return js_key_order(clone)
    if t is list or isinstance(value, (list, tuple)):
        return [stable_clone(v) for v in value]  # type: ignore[union-attr]
    return value


def js_string(value: object) -> str:
    """``String(value)`` as JavaScript writes it, for a JSON value (an array joins its items
    with commas, ``null`` items as empty; an object is ``[object Object]``)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    return "[object Object]"


def js_truthy(value: object) -> bool:
    """JavaScript truthiness of a JSON value."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True
