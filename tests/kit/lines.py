"""The babysitter SDK lines the tests run against, and where each one is installed.

- ``0.0.187``: ``<repo>/node_modules`` (``npm ci`` of the repository's package-lock.json);
- ``0.0.174``: ``<repo>/.sdks/0.0.174/node_modules`` (``sdks/0.0.174/``, from npm);
- ``6.0.3``: ``<repo>/.sdks/6.0.3/node_modules`` (``sdks/6.0.3/``, from the tarballs in
  ``../shared/sdk/6.0.3``: no registry serves 6.x).

``.ci/run`` installs all three. :data:`MAIN_LINES` are the lines every suite runs on (the
``sdk_line`` fixture of ``tests/conftest.py`` parametrizes a test over them); 0.0.174 is
driven only by the tests of its own behaviour (task definitions that are not on disk).
A line that is not installed is a skip with the command that installs it, except the
pinned 0.0.187, which ``kit.sdk.find_sdk`` installs on demand.
"""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SDK_PACKAGE = "@a5c-ai/babysitter-sdk"

#: Every line the tests know, newest first.
ALL_LINES = ("6.0.3", "0.0.187", "0.0.174")
#: The lines every suite runs on.
MAIN_LINES = ("0.0.187", "6.0.3")


@dataclass(frozen=True)
class SdkLine:
    """One installed SDK release: its ``node_modules`` and what differs on disk."""

    version: str
    node_modules: Path

    @property
    def cli(self) -> Path:
        return self.node_modules / ".bin" / "babysitter"

    @property
    def dist(self) -> Path:
        return self.node_modules / "@a5c-ai" / "babysitter-sdk" / "dist"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def is6(self) -> bool:
        """6.x: ``sdkVersion`` in every file, derived step ids, runs in ``~/.a5c/runs``."""
        return self.major >= 6

    @property
    def id(self) -> str:
        """The pytest id of tests parametrized over this line (``sdk6.0.3``)."""
        return f"sdk{self.version}"


def install_dir(version: str) -> Path:
    """Where ``version`` is installed (its ``node_modules``)."""
    if version == "0.0.187":
        return REPO / "node_modules"
    return REPO / ".sdks" / version / "node_modules"


def installed_version(node_modules: Path) -> str | None:
    """The SDK version installed under ``node_modules``, if any."""
    manifest = node_modules / "@a5c-ai" / "babysitter-sdk" / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def _how_to_install(version: str) -> str:
    if version == "0.0.187":
        return f"run `npm ci --ignore-scripts` at {REPO}"
    if version == "6.0.3" and not (REPO.parent / "shared" / "sdk" / "6.0.3").is_dir():
        return (
            f"{REPO.parent / 'shared' / 'sdk' / '6.0.3'} is absent (6.x is served by no "
            "registry here); put the SDK tarballs there and run `bash .ci/run`"
        )
    return (
        f"copy sdks/{version}/package*.json to .sdks/{version}/ and run `npm ci "
        "--ignore-scripts --omit=optional` there (`bash .ci/run` does)"
    )


@functools.cache
def find_line(version: str) -> SdkLine | str:
    """The installed line ``version``, or why it cannot be used (a skip reason)."""
    if version not in ALL_LINES:
        raise ValueError(f"unknown SDK line {version!r}; known: {', '.join(ALL_LINES)}")
    if shutil.which("node") is None:
        return "node is not on PATH: this test drives the real babysitter SDK"
    node_modules = install_dir(version)
    found = installed_version(node_modules)
    if found != version or not (node_modules / ".bin" / "babysitter").exists():
        return (
            f"SDK {version} is not installed at {node_modules} (found {found or 'nothing'}): "
            + _how_to_install(version)
        )
    return SdkLine(version=version, node_modules=node_modules)
