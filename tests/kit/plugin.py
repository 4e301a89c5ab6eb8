"""The plugin as a process, and what runs show afterwards: ledgers, journal counts, SDK replay.

Effects in the reliability tests append one line per run to a *ledger* beside the run
directory (``<runDir>.ledger``): ``<effectId> <attempt token>``, where the token is the name
of the attempt directory, i.e. the claim that ran it. Counting lines per (effect, token)
shows whether a command ran more than once per claim.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from babysit_plugin.runloop.store import PluginStore
from kit.sdk import Project
from protocol.models import Problem
from protocol.verify import verify_run

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
REPLAY_JS = TESTS / "reliability" / "node" / "replay.js"
FORKSERVER = TESTS / "reliability" / "forkserver.py"

#: A shell snippet recording that this effect ran under this claim.
LEDGER = (
    'printf \'%s %s\\n\' "$BABYSIT_PLUGIN_EFFECT_ID" "$(basename "$BABYSIT_PLUGIN_ATTEMPT_DIR")"'
    ' >> "$BABYSIT_PLUGIN_RUN_DIR.ledger"'
)


def plugin_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment, with the repository importable and no crash point armed."""
    env = {k: v for k, v in os.environ.items() if k != "BABYSIT_PLUGIN_FAULT"}
    env["PYTHONPATH"] = os.pathsep.join([*filter(None, [env.get("PYTHONPATH")]), str(REPO)])
    env.update(extra or {})
    return env


def plugin_argv(*args: str | Path) -> list[str]:
    """The command line of ``babysit-plugin`` with this interpreter."""
    return [sys.executable, "-m", "babysit_plugin", *map(str, args)]


def plugin(
    *args: str | Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``babysit-plugin`` as its own process; never raises for its exit status."""
    return subprocess.run(
        plugin_argv(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=plugin_env(env),
        timeout=timeout,
        check=False,
    )


def ledger(run_dir: Path) -> list[tuple[str, str]]:
    """(effectId, claim token) per recorded run of an effect's command."""
    path = Path(f"{run_dir}.ledger")
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        eid, _, token = line.partition(" ")
        rows.append((eid, token))
    return rows


def runs_per_claim(run_dir: Path) -> Counter[tuple[str, str]]:
    return Counter(ledger(run_dir))


def runs_per_effect(run_dir: Path) -> Counter[str]:
    return Counter(eid for eid, _ in ledger(run_dir))


def journal_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every journal event as JSON, in file-name order (no validation: duplicates count)."""
    journal = run_dir / "journal"
    events = []
    for name in sorted(os.listdir(journal)):
        if name.endswith(".json"):
            events.append(json.loads((journal / name).read_text(encoding="utf-8")))
    return events


def resolved_per_effect(run_dir: Path) -> Counter[str]:
    """How many EFFECT_RESOLVED events each effect has."""
    return Counter(
        e["data"]["effectId"] for e in journal_events(run_dir) if e["type"] == "EFFECT_RESOLVED"
    )


def requested_ids(run_dir: Path) -> list[str]:
    return [
        e["data"]["effectId"] for e in journal_events(run_dir) if e["type"] == "EFFECT_REQUESTED"
    ]


def verify_errors(run_dir: Path) -> list[Problem]:
    """The error-severity findings of ``verify_run``."""
    return [p for p in verify_run(run_dir).problems if p.severity == "error"]


def plugin_state_is_clean(run_dir: Path) -> bool:
    """No claim and no saved outcome left in the plugin's state directory."""
    store = PluginStore(run_dir)
    return not store.claims() and not store.saved_outcome_ids()


def find_runs(root: Path) -> list[Path]:
    """Every run directory (run.json + journal/) under ``root``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if "run.json" in filenames and "journal" in dirnames:
            found.append(Path(dirpath))
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if d not in (".babysit-plugin", "node_modules")]
    return sorted(found)


def replay(project: Project, run_dirs: Iterable[Path]) -> dict[Path, dict[str, Any]]:
    """Replay every run with the SDK's orchestrateIteration, in one Node process."""
    dirs = [str(p) for p in run_dirs]
    proc = subprocess.run(
        ["node", str(REPLAY_JS), str(project.sdk.dist), *dirs],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"replay.js exited {proc.returncode}: {proc.stderr[-2000:]}")
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {Path(r["runDir"]): r for r in results}


def shell_process(name: str, count: int, command: str, *, kind_of_rest: str = "") -> str:
    """Source of a process: ``ctx.parallel.all`` of ``count`` shell tasks running ``command``.

    ``command`` may use ``${args.n}`` (1-based).  With ``kind_of_rest`` set, as many
    further tasks of that kind (``breakpoint``) are in the same group.
    """
    rest = ""
    if kind_of_rest:
        rest = f"""
const other = defineTask("{name}.other", (args) => ({{
  kind: "{kind_of_rest}",
  title: `other ${{args.n}}`,
}}));"""
    others = (
        f".concat([...Array({count}).keys()].map((i) => () => ctx.task(other, {{ n: i + 1 }})))"
        if kind_of_rest
        else ""
    )
    return f"""\
"use strict";
const {{ defineTask }} = require("@a5c-ai/babysitter-sdk");
const work = defineTask("{name}.work", (args) => ({{
  kind: "shell",
  title: `work ${{args.n}}`,
  shell: {{ command: `{command}` }},
}}));{rest}
exports.process = async function (inputs, ctx) {{
  const jobs = [...Array({count}).keys()].map((i) => () => ctx.task(work, {{ n: i + 1 }})){others};
  return await ctx.parallel.all(jobs);
}};
"""


def sdk_run(project: Project, source: str, run_id: str) -> Path:
    """A run of ``source`` created by the SDK and iterated once (its effects requested)."""
    process = project.write_file(f"{run_id}.js", source)
    run_dir = project.create_run(process, run_id=run_id)
    result = project.iterate(run_dir)
    if result["status"] != "waiting":
        raise AssertionError(f"expected the new run to wait for its effects, found {result}")
    return run_dir


def copy_run(run_dir: Path, name: str) -> Path:
    """A copy of ``run_dir`` beside it (same depth, so its process path still resolves)."""
    target = run_dir.parent / name
    subprocess.run(["cp", "-a", str(run_dir), str(target)], check=True)
    return target


def first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


class Baselines:
    """Error findings a test expects a run to keep (recorded before it acts)."""

    def __init__(self) -> None:
        self.errors: dict[Path, list[str]] = {}

    def record(self, run_dir: Path) -> list[str]:
        """Remember the run's current verify errors; they may remain after the test."""
        found = [f"{p.path}: {p.message}" for p in verify_errors(run_dir)]
        self.errors[run_dir.resolve()] = found
        return found


class ForkServer:
    """A warm interpreter that forks one ``babysit-plugin`` command per call (forkserver.py)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FORKSERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=plugin_env(),
        )

    def run(self, *args: str | Path, fault: str | None = None) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of ``babysit-plugin ARGS`` with ``fault`` armed."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        request = {"argv": [str(a) for a in args], "fault": fault}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        return int(reply["code"]), str(reply["stdout"]), str(reply["stderr"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
