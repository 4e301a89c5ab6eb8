"""Retrying effects that failed for a transient reason (rate limits, overload).

``dispatch --retries N`` runs a failed effect again, up to N more times, when
its failure has a *transient signature*:

- its exit code is one of :data:`DEFAULT_EXIT_CODES` (75, ``EX_TEMPFAIL``
  from ``sysexits.h``), or of ``--retry-on-exit CODES`` when given; or
- one of :data:`DEFAULT_PATTERNS` (or the ``--retry-on-pattern REGEX`` ones
  when given) matches, case-insensitively, the error message or the last
  :data:`SCAN_BYTES` of the attempt's stderr or stdout.  The defaults are the
  phrases harness CLIs and model APIs print for rate limits and overload:
  ``rate limit``, ``too many requests``, ``overloaded``, ``resource
  exhausted``, ``service unavailable``, ``temporarily unavailable``, and HTTP
  status 429 / 503 / 529 after ``status``, ``code``, ``http`` or ``error``.

A child killed by the stall watchdog (``--stall-timeout``: no output for that
long) is transient too: a hung network call or a wedged CLI often passes on a
second try.  A timeout, a program that cannot start, a value over the size limit or an
effect that cannot be run as defined is never retried.  Between attempts the
dispatcher waits ``min(max_delay, delay * 2**k)`` seconds scaled by a random
factor in [0.5, 1] (exponential backoff with jitter, capped), cooperatively
(``gevent``), and stops waiting at once on Ctrl-C / SIGTERM or the deadline.
The outcome of the last attempt is the one posted; its metadata says how many
attempts were made (``attempts``), and each attempt replaces the previous
attempt's ``stdout.log`` / ``stderr.log``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from protocol.jsonjs import JsonValue

#: Exit codes that mean "try again later" by default (sysexits.h EX_TEMPFAIL).
DEFAULT_EXIT_CODES: frozenset[int] = frozenset({75})

#: Output phrases that mean "try again later" by default (matched case-insensitively).
DEFAULT_PATTERNS: tuple[str, ...] = (
    r"rate[ _-]?limit",
    r"too many requests",
    r"overloaded",
    r"resource[ _-]?exhausted",
    r"service unavailable",
    r"temporarily unavailable",
    r"\b(?:status|code|http|error)\W{0,3}(?:429|503|529)\b",
)

#: How much of the end of stderr and stdout is searched for a pattern.
SCAN_BYTES = 64 * 1024

DEFAULT_DELAY = 2.0
DEFAULT_MAX_DELAY = 60.0


def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


@attrs.frozen
class RetryPolicy:
    """When and how often a failed effect is run again.  ``retries=0``: never."""

    retries: int = 0
    exit_codes: frozenset[int] = DEFAULT_EXIT_CODES
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    delay: float = DEFAULT_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    jitter: Callable[[], float] = attrs.field(default=random.random, eq=False)
    _compiled: tuple[re.Pattern[str], ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _compile(self.patterns))

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.delay * (2 ** max(0, attempt - 1)))
        return float(ceiling * (0.5 + 0.5 * self.jitter()))

    def transient(
        self,
        error: Mapping[str, JsonValue] | None,
        stdout: Path | None,
        stderr: Path | None,
    ) -> str | None:
        """Why an error outcome looks transient (``exit code 75``, ``output matches ...``)."""
        if error is None:
            return None
        data = error.get("data")
        if isinstance(data, dict):
            if data.get("timedOut") is True:
                return None
            if data.get("stalled") is True:
                return "no output within the stall timeout"
            code = data.get("exitCode")
            if isinstance(code, int) and not isinstance(code, bool) and code in self.exit_codes:
                return f"exit code {code}"
        texts = [str(error.get("message") or ""), _tail(stderr), _tail(stdout)]
        for pattern in self._compiled:
            for text in texts:
                found = pattern.search(text)
                if found:
                    return f"output matches {pattern.pattern!r} ({found.group(0)!r})"
        return None


def _tail(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - SCAN_BYTES))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def parse_exit_codes(text: str) -> frozenset[int]:
    """``"75,429"`` as a set of exit codes; raises ValueError naming the bad part."""
    codes: set[int] = set()
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        if not item.isdigit() or not 0 <= int(item) <= 255:
            raise ValueError(f"expected exit codes 0-255 separated by commas, found {item!r}")
        codes.add(int(item))
    if not codes:
        raise ValueError("expected at least one exit code")
    return frozenset(codes)


def check_pattern(text: str) -> str:
    """A regular expression, checked; raises ValueError with the compiler's reason."""
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"expected a regular expression, found {text!r} ({exc})") from None
    return text


def with_attempts(metadata: dict[str, JsonValue] | None, attempts: int) -> Any:
    """Outcome metadata recording the number of attempts (only when more than one)."""
    if attempts <= 1:
        return metadata
    merged: dict[str, JsonValue] = dict(metadata or {})
    merged["attempts"] = attempts
    return merged
