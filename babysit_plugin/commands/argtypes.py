"""Argument types shared by the subcommands: numbers with a lower bound, one error wording.

Each returns a parser for ``argparse``'s ``type=`` (and for values read from the environment)
that raises :class:`argparse.ArgumentTypeError` saying what was expected and what was found.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(minimum: int) -> Callable[[str], int]:
    """An int of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
        if value < minimum:
            expected = "a number of at least 1" if minimum == 1 else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"expected {expected}, found {value}")
        return value

    return parse


def seconds(*, zero_allowed: bool) -> Callable[[str], float]:
    """A number of seconds: positive, or (``zero_allowed``) 0 or more. NaN is refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, found {text!r}") from None
        if zero_allowed and not value >= 0:
            raise argparse.ArgumentTypeError(f"expected 0 or more seconds, found {text}")
        if not zero_allowed and not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number of seconds, found {text}")
        return value

    return parse
