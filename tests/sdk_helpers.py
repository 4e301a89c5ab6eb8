"""Driving the real babysitter SDK CLI from tests: find it, create runs, iterate, post.

Small on purpose: a test writes its process source, creates a run from it, and calls the CLI.
The CLI is the repository's pinned one (``<repo>/node_modules/.bin/babysitter``, installed by
``npm ci``); :func:`find_cli` returns a skip reason instead when Node or the CLI is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"
CLI = NODE_MODULES / ".bin" / "babysitter"


def find_cli() -> Path | str:
    """The babysitter CLI, or why it cannot be used (for ``pytest.skip``)."""
    if shutil.which("node") is None:
        return "node is not on PATH: this test drives the real babysitter SDK"
    if not CLI.exists():
        return f"{CLI} is missing: run `npm ci` at {REPO} to install the pinned SDK"
    return CLI


def clean_env(home: Path) -> dict[str, str]:
    """The environment for SDK commands: no user hooks, config or session variables."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BABYSITTER_", "CLAUDE", "A5C_"))
    }
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return env


class SdkProject:
    """A throw-away project root: ``node_modules`` linked to the repo's, runs in ``.a5c/runs``."""

    def __init__(self, root: Path, cli: Path = CLI) -> None:
        self.root = root
        self.cli_path = cli
        self.runs = root / ".a5c" / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)
        link = root / "node_modules"
        if not link.exists():
            # A process file under root can then `require("@a5c-ai/babysitter-sdk")`.
            link.symlink_to(cli.parent.parent, target_is_directory=True)
        # 6.x's run:create makes `.a5c/package.json` say "module"; processes stay CommonJS.
        (root / "package.json").write_text('{"type": "commonjs"}\n', encoding="utf-8")
        self.env = clean_env(root / ".home")

    def cli(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``babysitter <args>`` in the project root."""
        proc = subprocess.run(
            [str(self.cli_path), *map(str, args)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"babysitter {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def write(self, name: str, text: str) -> Path:
        """A file in the project root (process sources, value files)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def create_run(
        self, process: Path, *, process_id: str = "x", export: str = "process", **flags: str
    ) -> Path:
        """``run:create`` for ``process#export``; flags: ``run_id="r"`` -> ``--run-id r``."""
        args: list[str | Path] = [
            "run:create",
            "--process-id",
            process_id,
            "--entry",
            f"{process}#{export}",
            "--runs-dir",
            self.runs,
            "--json",
        ]
        for key, value in flags.items():
            args += [f"--{key.replace('_', '-')}", value]
        return Path(json.loads(self.cli(*args).stdout)["runDir"])

    def iterate(self, run_dir: Path) -> dict[str, Any]:
        """``run:iterate <runDir> --json``."""
        result: dict[str, Any] = json.loads(self.cli("run:iterate", run_dir, "--json").stdout)
        return result

    def task_post(self, run_dir: Path, effect_id: str, *args: str | Path) -> dict[str, Any]:
        """``task:post <runDir> <effectId> <args> --json``; must commit (it exits 1 after
        committing a ``--status error`` result)."""
        proc = self.cli("task:post", run_dir, effect_id, *args, "--json", check=False)
        try:
            result: dict[str, Any] = json.loads(proc.stdout)
        except ValueError:
            result = {}
        if "committed" not in result:
            raise AssertionError(
                f"task:post {effect_id} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return result
