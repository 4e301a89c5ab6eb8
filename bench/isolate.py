"""Cost of ``--isolate worktree``: set-up and merge-back per effect, against the same
effects without isolation, on a repository of N files and on a clone of this one.

    python bench/isolate.py                  # 10,000 files and this repository
    python bench/isolate.py --files 2000 --rounds 3

For each repository, in one process and the same run of the script:

- *phases*: one isolated effect's steps timed one by one (snapshot, ``git worktree
  add``, the effect's tree, the merge plan, apply, ``git worktree remove``), the
  median of ``--rounds``; with an effect that changes nothing and one that edits a file.
- *dispatch*: a whole ``dispatch_run`` of one agent effect that does nothing (a
  stand-in agent) with and without isolation; the difference is the cost per effect.
- *group*: 8 isolated agents that each sleep 0.3 s and edit a file of their own:
  their start/end timestamps must overlap, and the wall time is compared with the
  same group without isolation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugin"))
sys.path.insert(0, str(ROOT / "tests"))

from kit import FAKES, RunDir, agent, make_run  # noqa: E402

from babysit_plugin.isolate import IsolateOptions, worktrees  # noqa: E402
from babysit_plugin.isolate import merge as merge_mod  # noqa: E402
from babysit_plugin.isolate.git import open_repo  # noqa: E402
from babysit_plugin.isolate.snapshot import take_snapshot  # noqa: E402
from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run  # noqa: E402
from babysit_plugin.runloop.execute import ExecOptions  # noqa: E402

AGENT = f"{sys.executable} {FAKES / 'edit_agent.py'} {{task_file}}"
ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
ENV.update(
    GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x"
)


def sh(cwd: Path, *argv: str) -> None:
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, capture_output=True)


def files_repo(root: Path, n: int) -> Path:
    repo = root / "repo"
    for i in range(n):
        d = repo / f"d{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_text(f"file {i}\n" * 4)
    (repo / ".gitignore").write_text(".a5c/\n")
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "base")
    return repo


def self_repo(root: Path) -> Path:
    repo = root / "repo"
    sh(root, "git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo))
    return repo


def run_in(repo: Path, root: Path, ops: list[list[Any]], name: str) -> RunDir:
    """A run whose repository is ``repo`` (the run builder makes ``root/repo``)."""
    run = make_run(root, [agent(json.dumps(o)) for o in ops], run_id=name)
    assert run.repo == repo
    return run


def median(values: list[float]) -> float:
    return statistics.median(values)


def phases(repo: Path, run: RunDir, rounds: int, edit: bool) -> dict[str, float]:
    r = open_repo(repo, run.path)
    state = run.path / ".babysit-plugin"
    times: dict[str, list[float]] = {}

    def clock(name: str, t0: float) -> float:
        now = time.perf_counter()
        times.setdefault(name, []).append(now - t0)
        return now

    target = next(p for p in sorted(repo.rglob("*.txt")) if ".git" not in p.parts)
    rel = target.relative_to(repo).as_posix()
    for i in range(rounds):
        t = time.perf_counter()
        snap = take_snapshot(r, state / "tmp")
        t = clock("snapshot", t)
        path = worktrees.worktrees_dir(state) / f"bench{i}"
        worktrees.create(r, path, snap, ())
        t = clock("worktree add", t)
        if edit:
            with open(path / rel, "a") as fh:
                fh.write("edited\n")
        t = time.perf_counter()
        tree = merge_mod.effect_tree(r, path, state / "tmp" / "e.index", ())
        t = clock("effect tree", t)
        plan = merge_mod.plan_merge(r, snap, tree, state / "tmp" / "o.index")
        t = clock("merge plan", t)
        merge_mod.apply(r, plan.changes, state / "tmp" / "a.index")
        t = clock("apply", t)
        worktrees.remove(r, path)
        clock("worktree remove", t)
        if edit:
            sh(repo, "git", "checkout", "-q", "--", rel)
    out = {k: median(v) for k, v in times.items()}
    out["set-up + merge-back"] = sum(out.values())
    return out


def dispatch(run: RunDir, isolate: bool) -> tuple[float, Any]:
    options = DispatchOptions(
        exec=ExecOptions(harness_command=AGENT, env={**os.environ, "EDIT_AGENT_USER_TREE": "."}),
        handle_signals=False,
        isolate=IsolateOptions(mode="worktree" if isolate else "none"),
    )
    t0 = time.perf_counter()
    report = dispatch_run(run.path, options)
    wall = time.perf_counter() - t0
    assert report.exit_code == 0, [e.reason for e in report.effects]
    assert all(e.status == "ok" for e in report.effects), [e.reason for e in report.effects]
    return wall, report


def bench_repo(label: str, root: Path, repo: Path, rounds: int) -> dict[str, Any]:
    result: dict[str, Any] = {"repo": label}
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=repo, env=ENV, capture_output=True, check=True
    ).stdout.count(b"\n")
    result["files"] = tracked
    probe = run_in(repo, root, [[]], "probe")
    result["phases (no change)"] = phases(repo, probe, rounds, edit=False)
    result["phases (one file edited)"] = phases(repo, probe, rounds, edit=True)
    plain, iso = [], []
    for i in range(rounds):
        plain.append(dispatch(run_in(repo, root, [[]], f"plain{i}"), False)[0])
        iso.append(dispatch(run_in(repo, root, [[]], f"iso{i}"), True)[0])
    result["one effect, dispatch"] = {
        "plain": median(plain),
        "isolated": median(iso),
        "cost per effect": median(iso) - median(plain),
    }
    stamps = root / "stamps"
    group: dict[str, Any] = {}
    for mode in ("plain", "isolated"):
        shutil.rmtree(stamps, ignore_errors=True)
        stamps.mkdir()
        ops = [
            [["stamp", str(stamps), f"a{i}"], ["write", f"bench-{mode}-{i}.txt", "x\n"]]
            for i in range(8)
        ]
        wall, _ = dispatch(run_in(repo, root, ops, f"group-{mode}"), mode == "isolated")
        spans = [
            (int((stamps / f"a{i}.start").read_text()), int((stamps / f"a{i}.end").read_text()))
            for i in range(8)
        ]
        first_end = min(e for _, e in spans)
        last_start = max(s for s, _ in spans)
        group[mode] = {
            "wall": wall,
            "all 8 overlapped": last_start < first_end,
            "start spread s": (last_start - min(s for s, _ in spans)) / 1e9,
        }
    group["ratio isolated/plain"] = group["isolated"]["wall"] / group["plain"]["wall"]
    result["group of 8 agents (0.3 s each)"] = group
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-self", action="store_true", help="skip this repository")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        a = Path(tmp) / "files"
        results.append(bench_repo(f"{args.files} files", a, files_repo(a, args.files), args.rounds))
        if not args.no_self:
            b = Path(tmp) / "self"
            b.mkdir()
            results.append(bench_repo("this repository", b, self_repo(b), args.rounds))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
