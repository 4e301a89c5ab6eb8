"""The real SDK in tests: each installed line, throw-away projects, recorded fixture runs.

A :class:`Project` is a project root made for one test: ``node_modules`` linked to one SDK
line's install, processes in ``.a5c/processes`` (kept CommonJS: 6.x's ``run:create`` marks
``.a5c`` as ESM), runs in ``.a5c/runs``, and an environment with no user hooks, config or
session variables. It runs the SDK CLI (``babysitter``) and the plugin as processes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from kit import lines as sdklines
from protocol import jsonjs

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
FIXTURE_RUNS = FIXTURES / "runs"
FIXTURE_PROCESSES = FIXTURES / "processes"
NODE_MODULES = REPO / "node_modules"
CLI = NODE_MODULES / ".bin" / "babysitter"

if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))

import record  # noqa: E402  (tests/fixtures/record.py)

NPM_CI = ("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
SDK_PACKAGE = "@a5c-ai/babysitter-sdk"


def fixture_names() -> list[str]:
    """The committed fixture runs, sorted."""
    return sorted(p.name for p in FIXTURE_RUNS.iterdir() if (p / "run.json").is_file())


def process_file_of(run_dir: Path) -> Path:
    """The fixture process that made ``run_dir`` (from run.json's entry point)."""
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return FIXTURE_PROCESSES / Path(meta["entrypoint"]["importPath"]).name


def copy_fixture(name: str, dest: Path) -> Path:
    """A private copy of fixture run ``name`` at ``dest/<name>`` (no SDK staging)."""
    target = dest / name
    shutil.copytree(FIXTURE_RUNS / name, target, symlinks=True)
    return target


# --- the real SDK -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sdk:
    """The pinned SDK's CLI and the Node that runs it."""

    node: str
    babysitter: Path
    node_modules: Path
    version: str

    @property
    def dist(self) -> Path:
        return self.node_modules / "@a5c-ai" / "babysitter-sdk" / "dist"

    @property
    def is6(self) -> bool:
        """A 6.x line (``sdkVersion`` in its files, derived step ids)."""
        return int(self.version.split(".")[0]) >= 6


def pinned_version() -> str:
    """The SDK version the repository's package.json pins."""
    package = json.loads((REPO / "package.json").read_text(encoding="utf-8"))
    return str(package["devDependencies"][SDK_PACKAGE])


def _install_lock() -> FileLock:
    digest = hashlib.sha1(str(REPO).encode()).hexdigest()[:12]
    return FileLock(Path(tempfile.gettempdir()) / f"babysit-plugin-npm-ci-{digest}.lock")


class SdkUnavailableError(RuntimeError):
    """Node is there but the pinned SDK could not be installed: a failure, not a skip."""


@functools.cache
def _locate_sdk() -> Sdk | str | SdkUnavailableError:
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH: the end-to-end tests drive the real babysitter SDK"
    node_modules = NODE_MODULES
    babysitter = CLI
    want = pinned_version()
    with _install_lock():
        if not babysitter.exists() or sdklines.installed_version(node_modules) != want:
            npm = shutil.which("npm")
            if npm is None:
                return SdkUnavailableError(
                    f"{node_modules}: the babysitter SDK is not installed and npm is not on "
                    "PATH — install npm, or run `npm ci --ignore-scripts` at the repo root"
                )
            proc = subprocess.run(
                [npm, *NPM_CI[1:]],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                return SdkUnavailableError(
                    f"`npm ci` failed at {REPO}: {proc.stderr.strip()[-500:]}"
                )
    version = sdklines.installed_version(node_modules)
    if version != want or not babysitter.exists():
        return SdkUnavailableError(
            f"{node_modules}: expected {SDK_PACKAGE}@{want}, found {version} — run `npm ci` "
            "at the repo root"
        )
    return Sdk(node=node, babysitter=babysitter, node_modules=node_modules, version=version)


def find_sdk(version: str | None = None) -> Sdk | str:
    """The SDK line ``version`` (default: the pinned one), or the reason to skip.

    The pinned SDK under ``<repo>/node_modules`` is installed once if missing: the reason to
    skip (a string) is returned only when Node itself is missing, and when Node is there but
    the SDK cannot be had (no npm, ``npm ci`` failed, wrong version) it raises
    :class:`SdkUnavailableError`. ``npm ci`` runs under a file lock so concurrent test
    sessions install it once. Another line (see :mod:`sdklines`) is a skip when it is not
    installed.
    """
    if version is not None and version != pinned_version():
        line = sdklines.find_line(version)
        if isinstance(line, str):
            return line
        node = shutil.which("node")
        assert node is not None
        return Sdk(node=node, babysitter=line.cli, node_modules=line.node_modules, version=version)
    found = _locate_sdk()
    if isinstance(found, SdkUnavailableError):
        raise SdkUnavailableError(str(found))
    return found


def clean_env(home: Path) -> dict[str, str]:
    """The environment for SDK commands: no user hooks, config or session variables."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BABYSITTER_", "CLAUDE", "A5C_"))
    }
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return env


def commonjs(processes: Path) -> None:
    """Mark ``processes`` as CommonJS: 6.x's ``run:create`` writes ``{"type":"module"}`` to
    the ``package.json`` above the runs directory, which would make ``.js`` processes ESM."""
    manifest = processes / "package.json"
    if not manifest.exists():
        manifest.write_text('{"type": "commonjs"}\n', encoding="utf-8")


class Project:
    """A throw-away project root for SDK runs: ``.a5c/processes``, ``.a5c/runs``, no user env."""

    def __init__(self, sdk: Sdk, root: Path, processes: Sequence[Path] = ()) -> None:
        self.sdk = sdk
        self.root = root
        self.processes = root / ".a5c" / "processes"
        self.runs = root / ".a5c" / "runs"
        self.processes.mkdir(parents=True, exist_ok=True)
        self.runs.mkdir(parents=True, exist_ok=True)
        link = root / "node_modules"
        if not link.exists():
            link.symlink_to(sdk.node_modules, target_is_directory=True)
        commonjs(self.processes)
        self.env = clean_env(root / "home")
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        for process in processes:
            shutil.copy2(process, self.processes / process.name)
        self._inputs = 0

    def babysitter(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the SDK CLI in the project root."""
        proc = subprocess.run(
            [str(self.sdk.babysitter), *args],
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"babysitter {' '.join(args)} exited {proc.returncode}\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def plugin_argv(self, *args: str) -> list[str]:
        """The command line of ``babysit-plugin`` with this interpreter."""
        return [sys.executable, "-m", "babysit_plugin", *args]

    def plugin(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``babysit-plugin`` as a separate process in the project root."""
        proc = subprocess.run(
            self.plugin_argv(*args),
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"babysit-plugin {' '.join(args)} exited {proc.returncode}\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def write(self, text: str, name: str | None = None) -> Path:
        """A scratch file outside any run."""
        self._inputs += 1
        scratch = self.root / "scratch"
        scratch.mkdir(exist_ok=True)
        path = scratch / (name or f"input-{self._inputs}.json")
        path.write_text(text, encoding="utf-8")
        return path

    def create(
        self,
        process: str,
        run_id: str,
        inputs: Any = None,
        harness: str | None = None,
    ) -> Path:
        """``run:create`` for ``.a5c/processes/<process>.js``; returns the run directory."""
        args = [
            "run:create",
            "--process-id",
            f"e2e/{process}",
            "--entry",
            f"{self.processes / (process + '.js')}#process",
            "--runs-dir",
            str(self.runs),
            "--run-id",
            run_id,
            "--json",
        ]
        if inputs is not None:
            args += ["--inputs", str(self.write(json.dumps(inputs)))]
        if harness is not None:
            args += ["--harness", harness]
        out = json.loads(self.babysitter(*args).stdout)
        return Path(out["runDir"])

    def iterate(self, run_dir: Path) -> dict[str, Any]:
        """``run:iterate --json``, which must succeed; parsed as ``JSON.parse`` would."""
        result = jsonjs.loads(self.babysitter("run:iterate", str(run_dir), "--json").stdout)
        assert isinstance(result, dict)
        return result

    def output(self, run_dir: Path) -> Any:
        """The process's return value as the SDK stored it."""
        return json.loads((run_dir / "state" / "output.json").read_text(encoding="utf-8"))

    def stage(self, name: str) -> Path:
        """A copy of fixture run ``name`` under this project, ready for the SDK to replay."""
        source = FIXTURE_RUNS / name
        return record.stage_run(source, process_file_of(source), self.root, self.sdk.node_modules)

    def cli(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``babysitter <args>`` (paths allowed) in the project root."""
        return self.babysitter(*map(str, args), check=check)

    def write_file(self, name: str, text: str) -> Path:
        """A file at ``name`` under the project root (process sources, value files)."""
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
