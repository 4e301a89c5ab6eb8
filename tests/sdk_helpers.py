"""Moved to the one test kit, ``tests/kit``: import from ``kit`` instead.

Kept only as an alias while older call sites move: ``SdkProject(root, cli)`` is a
:class:`kit.Project` on the SDK that ``cli`` belongs to, whose ``write(name, text)`` is
``Project.write_file``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kit import *  # noqa: F403
from kit import CLI, Project, Sdk, installed_version


def find_cli() -> Path | str:
    """The pinned CLI, or why it cannot be used."""
    if shutil.which("node") is None:
        return "node is not on PATH: this test drives the real babysitter SDK"
    return CLI if CLI.exists() else f"{CLI} is missing: run `npm ci` at the repository root"


class SdkProject(Project):
    def __init__(self, root: Path, cli: Path = CLI) -> None:
        node_modules = cli.parent.parent
        node = shutil.which("node") or "node"
        version = installed_version(node_modules) or "unknown"
        super().__init__(
            Sdk(node=node, babysitter=cli, node_modules=node_modules, version=version), root
        )

    def write(self, name: str, text: str) -> Path:  # type: ignore[override]
        return self.write_file(name, text)
