"""Fixtures shared by every suite: the SDK lines a test runs against.

``sdk_line`` parametrizes a test over :data:`sdklines.MAIN_LINES` (0.0.187 and 6.0.3), ids
``sdk0.0.187`` / ``sdk6.0.3``; a line that is not installed is skipped with the command that
installs it. ``each_line`` runs a test once per line on runs built by hand (``kit.handmade``
writes that line's bytes; no SDK needed): a module opts in with
``pytestmark = pytest.mark.usefixtures("each_line")``. ``pytest -k sdk6`` runs only the 6.x
half.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from kit import handmade  # noqa: E402
from kit import lines as sdklines  # noqa: E402


@pytest.fixture(scope="session", params=sdklines.MAIN_LINES, ids=lambda v: f"sdk{v}")
def sdk_line(request: pytest.FixtureRequest) -> sdklines.SdkLine:
    """An installed SDK line (each of 0.0.187 and 6.0.3 in turn)."""
    found = sdklines.find_line(str(request.param))
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(params=sdklines.MAIN_LINES, ids=lambda v: f"sdk{v}")
def each_line(request: pytest.FixtureRequest) -> Iterator[str]:
    """The hand-built runs of this test are in the bytes of each main SDK line in turn."""
    version = str(request.param)
    handmade.DEFAULT_VERSION[0] = None if version == "0.0.187" else version
    try:
        yield version
    finally:
        handmade.DEFAULT_VERSION[0] = None
