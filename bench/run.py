"""babysit-plugin benchmark: group wall time, posting cost, scale of reading, memory.

    python bench/run.py            # the full run (about 6-8 minutes on 2 cores)
    python bench/run.py --quick    # a smoke run: N = 1 and 8, 0.3 s effects, small journals

Everything is measured in one run on this machine, against baselines measured in the same
run; every run directory is made by the real SDK CLI (``run:create`` + ``run:iterate`` on
``bench/processes/fanout.js``) and checked afterwards with ``verify_run`` and ``run:iterate``.
Prints a table and writes ``bench/out/results.json``, ``bench/out/results.md`` and (with
matplotlib, the ``bench`` extra) ``bench/out/results.png``.

What is measured:

- group: N shell effects of ``sleep D`` pending in one parallel group.
  ``babysit-plugin dispatch RUN --json`` as a whole process (Python start-up included),
  against the sequential baseline of the babysit skill (each effect run, then posted with
  ``babysitter task:post``, one after another) and against the ideal (the slowest member,
  measured alone). The baseline is measured in full up to ``--seq-full-max`` effects; beyond,
  it is N x the mean cost of ``--seq-sample`` effects measured on a run of that size, and
  labelled extrapolated.
- post: ``babysitter task:post``, ``babysit-plugin post`` (a process each) and the in-process
  ``protocol.post_result`` (the dispatcher's path) interleaved on one run, per result.
- scale: pending actions derived from journals of 100, 1,000 and 10,000 events (in process,
  and as ``babysit-plugin pending --json``) against ``babysitter run:iterate --json`` on the
  same run; the runs are grown by resolving effects with the protocol's own writer.
- memory: peak RSS of the dispatcher process (``wait4``) at every N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _path in (str(BENCH), str(REPO)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from sdkruns import (  # noqa: E402
    BenchProject,
    find_sdk,
    fsync_cost,
    resolve_in_bulk,
    without_fsync,
)
from timing import summary  # noqa: E402

from protocol import (  # noqa: E402
    JsonValue,
    ResultInput,
    Run,
    open_run,
    pending_actions,
    post_result,
    verify_run,
)

DEFAULT_OUT = BENCH / "out"
FULL_NS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MB = 1_000_000


@dataclass
class Config:
    """What one run measures."""

    ns: tuple[int, ...] = FULL_NS
    duration: float = 1.0
    seq_full_max: int = 8
    seq_sample: int = 3
    repeat: int = 3
    post_rounds: int = 20
    post_inproc_per_round: int = 5
    startup_repeats: int = 5
    scale_events: tuple[int, ...] = (100, 1000, 10000)
    scale_repeats: int = 5
    iterate_repeats: int = 3
    sections: tuple[str, ...] = ("group", "post", "scale")
    quick: bool = False


QUICK = Config(
    ns=(1, 8),
    duration=0.3,
    seq_full_max=8,
    repeat=1,
    post_rounds=3,
    post_inproc_per_round=3,
    startup_repeats=2,
    scale_events=(100,),
    scale_repeats=3,
    iterate_repeats=2,
    quick=True,
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def epoch_of(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def seconds_text(value: float) -> str:
    return f"{value:g}"


# --- machine ---------------------------------------------------------------------------------


def _first_line(argv: Sequence[str]) -> str | None:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if lines else None


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine(bp: BenchProject) -> dict[str, Any]:
    """nproc, memory, CPU model, OS, Python, Node, SDK and repository revision."""
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    revision = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "usableCpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memoryGiB": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "cpu": cpu or platform.processor() or None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": _first_line([bp.sdk.node, "--version"]),
        "sdk": bp.sdk.version,
        "revision": revision,
        **fsync_cost(bp.project.runs),
        "loadStart": _load(),
    }


def _wall(row: dict[str, Any]) -> float:
    return float(row["wallS"])


# --- group wall time -------------------------------------------------------------------------


@dataclass
class SequentialSample:
    exec_s: list[float] = field(default_factory=list)
    post_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)


def sequential(bp: BenchProject, run_dir: Path, actions: list[dict[str, Any]]) -> SequentialSample:
    """The babysit skill's loop: run each effect's command, then ``task:post`` its result."""
    sample = SequentialSample()
    scratch = bp.root / "scratch" / run_dir.name
    scratch.mkdir(parents=True, exist_ok=True)
    for action in actions:
        command = action["taskDef"]["shell"]["command"]
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=bp.root,
            env=bp.env,
            capture_output=True,
            text=True,
            check=False,
        )
        t_exec = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{command!r} exited {proc.returncode}: {proc.stderr}")
        value = scratch / f"{action['effectId']}.value.json"
        value.write_text(json.dumps(proc.stdout), encoding="utf-8")
        stdout = scratch / f"{action['effectId']}.stdout"
        stdout.write_text(proc.stdout, encoding="utf-8")
        post = bp.timed(
            bp.babysitter_argv(
                "task:post",
                str(run_dir),
                action["effectId"],
                "--status",
                "ok",
                "--value",
                str(value),
                "--stdout-file",
                str(stdout),
                "--json",
            )
        ).check()
        sample.exec_s.append(t_exec)
        sample.post_s.append(post.wall)
        sample.total_s.append(time.perf_counter() - t0)
    return sample


def check_run(bp: BenchProject, run_dir: Path, expect: str) -> dict[str, Any]:
    """``verify_run`` problems and the status ``run:iterate`` reports (must be ``expect``)."""
    report = verify_run(run_dir)
    problems = [f"{p.path}: {p.message}" for p in report.problems]
    out, _ = bp.iterate(run_dir)
    status = out.get("status")
    if problems or status != expect:
        raise RuntimeError(
            f"{run_dir}: expected a valid run that run:iterate reports {expect!r}; found "
            f"status {status!r} and problems {problems[:5]}"
        )
    return {"verifyProblems": len(problems), "iterateStatus": status}


def dispatch_once(bp: BenchProject, n: int, command: str) -> dict[str, Any]:
    """One ``babysit-plugin dispatch RUN --json`` process on a fresh run of ``n`` effects."""
    run_d, _ = bp.fanout(n, command, f"dispatch-n{n}")
    timed = bp.timed(bp.plugin_argv("dispatch", str(run_d), "--json")).check()
    report = json.loads(timed.stdout)
    effects = report["effects"]
    bad = [e for e in effects if e["status"] != "ok" or not e.get("posted")]
    if len(effects) != n or bad:
        raise RuntimeError(f"{run_d}: dispatch did not post {n} ok results: {bad[:3]}")
    starts = [epoch_of(e["startedAt"]) for e in effects]
    finishes = [epoch_of(e["finishedAt"]) for e in effects]
    return {
        "wallS": timed.wall,
        "firstStartS": min(starts) - timed.started_epoch,
        "lastStartS": max(starts) - timed.started_epoch,
        "lastFinishS": max(finishes) - timed.started_epoch,
        "slowestMemberS": max(e["durationMs"] for e in effects) / 1000,
        "maxRssMB": timed.max_rss_kib * 1024 / MB,
        **check_run(bp, run_d, "completed"),
    }


def bench_group(bp: BenchProject, cfg: Config) -> list[dict[str, Any]]:
    command = f"sleep {seconds_text(cfg.duration)}"
    rows: list[dict[str, Any]] = []
    for n in cfg.ns:
        log(f"group N={n}: dispatch x{cfg.repeat}")
        runs = sorted((dispatch_once(bp, n, command) for _ in range(cfg.repeat)), key=_wall)
        # The run with the median wall time stands for N; every wall time is kept.
        dispatch = dict(runs[(len(runs) - 1) // 2])
        dispatch["wallRunsS"] = [r["wallS"] for r in runs]
        dispatch["maxRssMB"] = max(r["maxRssMB"] for r in runs)

        full = n <= cfg.seq_full_max
        k = n if full else min(n, cfg.seq_sample)
        log(f"group N={n}: sequential baseline ({'all' if full else k} effects)")
        run_s, actions = bp.fanout(n, command, f"sequential-n{n}")
        sample = sequential(bp, run_s, actions[:k])
        per_effect = statistics.fmean(sample.total_s)
        seq = {
            "wallS": sum(sample.total_s) if full else n * per_effect,
            "extrapolated": not full,
            "measuredEffects": k,
            "perEffectS": per_effect,
            "execMedianS": statistics.median(sample.exec_s),
            "taskPostMedianS": statistics.median(sample.post_s),
            **check_run(bp, run_s, "completed" if full else "waiting"),
        }
        ideal = max(sample.exec_s)
        rows.append(
            {
                "n": n,
                "effectS": cfg.duration,
                "command": command,
                "dispatch": dispatch,
                "sequential": seq,
                "idealS": ideal,
                "speedup": seq["wallS"] / dispatch["wallS"],
                "vsIdeal": dispatch["wallS"] / ideal,
                "overheadPerEffectMs": (dispatch["wallS"] - ideal) / n * 1000,
            }
        )
        log(
            f"group N={n}: dispatch {dispatch['wallS']:.2f} s, sequential "
            f"{'~' if not full else ''}{seq['wallS']:.1f} s, ideal {ideal:.2f} s"
        )
    return rows


# --- posting cost ----------------------------------------------------------------------------


def bench_startup(bp: BenchProject, cfg: Config) -> dict[str, Any]:
    """Bare start-up of the two CLIs and of the interpreter, for reading the posting cost."""
    argvs = {
        "python -c pass": [sys.executable, "-c", "pass"],
        # What `babysit-plugin post` imports before it reads any file.
        "python -c 'import babysit_plugin.commands.protocol'": [
            sys.executable,
            "-c",
            "import babysit_plugin.cli, babysit_plugin.commands.protocol",
        ],
        "babysitter --version": bp.babysitter_argv("--version"),
    }
    return {
        name: summary([bp.timed(argv).check().wall for _ in range(cfg.startup_repeats)])
        for name, argv in argvs.items()
    }


def bench_post(bp: BenchProject, cfg: Config) -> dict[str, Any]:
    # Each round: one task:post, one babysit-plugin post, k post_result, and one post_result
    # with fsync skipped (a diagnostic), so every path sees the same journal sizes.
    per_round = 3 + cfg.post_inproc_per_round
    total = cfg.post_rounds * per_round
    log(f"post: {cfg.post_rounds} rounds on one run of {total} pending effects")
    run_dir, actions = bp.fanout(total, "true", "post")
    ids = iter([a["effectId"] for a in actions])
    run = open_run(run_dir)
    sdk_s: list[float] = []
    cli_s: list[float] = []
    inproc_s: list[float] = []
    no_fsync_s: list[float] = []
    fsyncs = 0
    for r in range(cfg.post_rounds):
        value = json.dumps({"round": r})
        sdk_s.append(timed_task_post(bp, run_dir, next(ids), value))
        cli_s.append(timed_plugin_post(bp, run_dir, next(ids), value))
        for _ in range(cfg.post_inproc_per_round):
            inproc_s.append(timed_post_result(run, next(ids), {"round": r}))
        with without_fsync() as skipped:
            no_fsync_s.append(timed_post_result(run, next(ids), {"round": r}))
        fsyncs = max(fsyncs, skipped[0])
    checked = check_run(bp, run_dir, "completed")
    sdk, cli, inproc = summary(sdk_s), summary(cli_s), summary(inproc_s)
    log(
        f"post: task:post {sdk['median'] * 1000:.0f} ms, babysit-plugin post "
        f"{cli['median'] * 1000:.0f} ms, post_result {inproc['median'] * 1000:.2f} ms (medians)"
    )
    return {
        "runEffects": total,
        "journalEvents": [total + 1, 2 * total + 1],
        "taskPost": sdk,
        "pluginPostCli": cli,
        "postResult": inproc,
        "speedupPostResult": sdk["median"] / inproc["median"],
        "speedupPluginPostCli": sdk["median"] / cli["median"],
        "fsyncsPerPostResult": fsyncs,
        "postResultWithoutFsync": summary(no_fsync_s),
        "startup": bench_startup(bp, cfg),
        **checked,
    }


# --- scale of reading ------------------------------------------------------------------------

SCALE_PENDING = 5


def timed_task_post(bp: BenchProject, run_dir: Path, effect_id: str, value: str) -> float:
    """Seconds of one ``babysitter task:post --value-inline`` process."""
    argv = bp.babysitter_argv("task:post", str(run_dir), effect_id, "--status", "ok")
    return bp.timed([*argv, "--value-inline", value, "--json"]).check().wall


def timed_plugin_post(bp: BenchProject, run_dir: Path, effect_id: str, value: str) -> float:
    """Seconds of one ``babysit-plugin post --value-inline`` process."""
    argv = bp.plugin_argv("post", str(run_dir), effect_id, "--status", "ok")
    return bp.timed([*argv, "--value-inline", value, "--json"]).check().wall


def timed_post_result(run: Run, effect_id: str, value: JsonValue) -> float:
    """Seconds of one in-process ``protocol.post_result``."""
    t0 = time.perf_counter()
    post_result(run, effect_id, ResultInput(status="ok", value=value))
    return time.perf_counter() - t0


def bench_scale(bp: BenchProject, cfg: Config) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for events in cfg.scale_events:
        # 1 RUN_CREATED + k EFFECT_REQUESTED + (k - 5) EFFECT_RESOLVED = events.
        k = events // 2 + 2
        resolved = k - SCALE_PENDING
        log(f"scale {events} events: run:iterate requests {k} effects")
        t0 = time.perf_counter()
        run_dir, actions = bp.fanout(k, "true", f"scale-{events}")
        build_sdk = time.perf_counter() - t0
        ids = [a["effectId"] for a in actions]
        t0 = time.perf_counter()
        resolve_in_bulk(run_dir, ids[:resolved])
        build_resolve = time.perf_counter() - t0
        found = len(list((run_dir / "journal").glob("*.json")))
        if found != 1 + k + resolved:
            raise RuntimeError(f"{run_dir}: expected {1 + k + resolved} events, found {found}")

        log(f"scale {events} events: deriving pending actions")
        inproc: list[float] = []
        for _ in range(cfg.scale_repeats):
            t0 = time.perf_counter()
            mine = pending_actions(open_run(run_dir))
            inproc.append(time.perf_counter() - t0)
        cli = [
            bp.timed(bp.plugin_argv("pending", str(run_dir), "--json")).check().wall
            for _ in range(cfg.iterate_repeats)
        ]
        sdk_runs = [bp.iterate(run_dir) for _ in range(cfg.iterate_repeats)]
        theirs = sdk_runs[-1][0].get("nextActions") or []
        same = [a.effect_id for a in mine] == [a["effectId"] for a in theirs] and all(
            a.scheduler_hints is not None
            and a.scheduler_hints.parallel_group_id == b["schedulerHints"].get("parallelGroupId")
            and a.scheduler_hints.pending_count == b["schedulerHints"].get("pendingCount")
            for a, b in zip(mine, theirs, strict=False)
        )

        # Posting at this journal size: the pending five, by each path, then run:iterate.
        run = open_run(run_dir)
        left = ids[resolved:]
        post_at: dict[str, float] = {
            "taskPostS": timed_task_post(bp, run_dir, left[0], "1"),
            "pluginPostCliS": timed_plugin_post(bp, run_dir, left[1], "1"),
        }
        inproc_post = [timed_post_result(run, eid, 1) for eid in left[2:]]
        post_at["postResultMedianS"] = statistics.median(inproc_post)
        checked = check_run(bp, run_dir, "completed")

        derive = summary(inproc)
        iterate = summary([t.wall for _, t in sdk_runs])
        row = {
            "events": events,
            "effects": k,
            "pending": len(mine),
            "buildSdkIterateS": build_sdk,
            "buildResolveS": build_resolve,
            "pendingInProcess": derive,
            "pendingCli": summary(cli),
            "runIterate": iterate,
            "ratioIterateOverInProcess": iterate["median"] / derive["median"],
            "ratioIterateOverCli": iterate["median"] / statistics.median(cli),
            "sameActionsAsRunIterate": same,
            "postAtThisSize": post_at,
            **checked,
        }
        log(
            f"scale {events} events: pending {derive['median'] * 1000:.0f} ms in process, "
            f"{statistics.median(cli) * 1000:.0f} ms CLI; run:iterate "
            f"{iterate['median'] * 1000:.0f} ms"
        )
        rows.append(row)
    return rows


# --- targets, table, plot --------------------------------------------------------------------


def _row(rows: list[dict[str, Any]], key: str, value: int) -> dict[str, Any] | None:
    return next((r for r in rows if r[key] == value), None)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it was met."""
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, measured: str, note: str = "") -> None:
        out.append({"target": name, "met": met, "measured": measured, "note": note})

    group = results.get("group") or []
    at_1s = [r for r in group if r["effectS"] == 1.0]
    r32 = _row(at_1s, "n", 32)
    if r32 is not None:
        wall, speedup = r32["dispatch"]["wallS"], r32["speedup"]
        add(
            "N=32 effects of 1 s: dispatch wall < 1.5 s and > 20x the sequential baseline",
            wall < 1.5 and speedup > 20,
            f"{wall:.2f} s, {speedup:.1f}x",
            "baseline extrapolated" if r32["sequential"]["extrapolated"] else "",
        )
    r16 = _row(at_1s, "n", 16)
    if r16 is not None:
        wall = r16["dispatch"]["wallS"]
        add("N=16 effects of 1 s: dispatch wall < 2 s", wall < 2.0, f"{wall:.2f} s")
    r256 = _row(at_1s, "n", 256)
    if r256 is not None:
        wall = r256["dispatch"]["wallS"]
        add(
            "N=256 effects of 1 s: dispatch wall < 4 s",
            wall < 4.0,
            f"{wall:.2f} s ({r256['speedup']:.0f}x the extrapolated baseline)",
        )
    post = results.get("post")
    if post:
        med = post["postResult"]["median"] * 1000
        speed = post["speedupPostResult"]
        add(
            "Posting (in-process post_result): median < 5 ms and > 50x faster than task:post",
            med < 5 and speed > 50,
            f"{med:.2f} ms, {speed:.0f}x",
        )
        cli_med = post["pluginPostCli"]["median"] * 1000
        cli_speed = post["speedupPluginPostCli"]
        add(
            "Posting (babysit-plugin post process): median < 5 ms and > 50x faster than task:post",
            cli_med < 5 and cli_speed > 50,
            f"{cli_med:.0f} ms, {cli_speed:.1f}x",
            "a process pays interpreter start-up and imports",
        )
    r10k = _row(results.get("scale") or [], "events", 10000)
    if r10k is not None:
        med = r10k["pendingInProcess"]["median"]
        ratio = r10k["ratioIterateOverInProcess"]
        add(
            "Pending derivation at 10,000 events: < 1 s and faster than run:iterate",
            med < 1.0 and ratio > 1,
            f"{med * 1000:.0f} ms in process ({ratio:.1f}x faster), "
            f"{r10k['pendingCli']['median'] * 1000:.0f} ms as a process "
            f"({r10k['ratioIterateOverCli']:.1f}x)",
        )
    memory = results.get("memory")
    if memory and memory["n"] == 256:
        add(
            "Dispatcher peak RSS at N=256 < 150 MB",
            memory["maxRssMB"] < 150,
            f"{memory['maxRssMB']:.0f} MB",
        )
    return out


def _range(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    return f" [{min(values):.2f}-{max(values):.2f}]"


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def tables(results: dict[str, Any]) -> list[str]:
    """The results as Markdown tables (printed, and written to results.md)."""
    lines: list[str] = []
    m = results["machine"]
    lines += [
        f"Date: {m['date']}  ",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memoryGiB']} GiB, {m['os']}  ",
        f"Python {m['python']}, Node {m['node']}, babysitter SDK {m['sdk']}, "
        f"revision {m['revision']}  ",
        f"Load average (1 min) at start {m['loadStart']}, at end {results.get('loadEnd')}  ",
        f"Disk: one atomic write of a small new file (temp, fsync, rename, directory fsync) "
        f"{m['atomicWriteMs']} ms; {m['atomicWriteNoFsyncMs']} ms without the fsyncs "
        "(median)",
        "",
    ]
    group = results.get("group")
    if group:
        lines += [
            "### Group wall time (one parallel group of N shell effects)",
            "",
            f"Dispatch: median of {results['config']['repeat']} runs (range in brackets).",
            "",
            "| N | effect | dispatch (process) | first start | last effect done | "
            "sequential (task:post) | ideal | speed-up | dispatch / ideal | "
            "overhead per effect | dispatcher RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in group:
            d, s = r["dispatch"], r["sequential"]
            seq = f"{s['wallS']:.1f} s" + (
                f" (extrapolated from {s['measuredEffects']})" if s["extrapolated"] else ""
            )
            lines.append(
                f"| {r['n']} | {r['effectS']:g} s | {d['wallS']:.2f} s{_range(d['wallRunsS'])}"
                f" | {d['firstStartS']:.2f} s"
                f" | {d['lastFinishS']:.2f} s | {seq} | {r['idealS']:.2f} s | {r['speedup']:.1f}x"
                f" | {r['vsIdeal']:.2f} | {r['overheadPerEffectMs']:.1f} ms"
                f" | {d['maxRssMB']:.0f} MB |"
            )
        lines.append("")
    post = results.get("post")
    if post:
        lines += [
            f"### Posting cost per result (one run, {post['runEffects']} effects, journal "
            f"{post['journalEvents'][0]}-{post['journalEvents'][1]} events)",
            "",
            "| path | n | median | p95 | vs task:post (median) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, key, ratio in (
            ("`babysitter task:post` (process)", "taskPost", 1.0),
            ("`babysit-plugin post` (process)", "pluginPostCli", post["speedupPluginPostCli"]),
            ("`protocol.post_result` (in process)", "postResult", post["speedupPostResult"]),
        ):
            s = post[key]
            lines.append(
                f"| {name} | {s['n']} | {_ms(s['median'])} | {_ms(s['p95'])} | {ratio:.1f}x |"
            )
        lines += [
            "",
            f"One `post_result` makes {post['fsyncsPerPostResult']} fsyncs; with fsync skipped "
            f"(diagnostic only) it takes {_ms(post['postResultWithoutFsync']['median'])} "
            "(median).",
        ]
        lines += ["", "Start-up alone (median):", ""]
        lines += [f"- `{k}`: {_ms(v['median'])}" for k, v in post["startup"].items()]
        lines.append("")
    scale = results.get("scale")
    if scale:
        lines += [
            "### Scale of reading (pending actions from the journal)",
            "",
            "| events | pending | in process (median) | `babysit-plugin pending` | "
            "`run:iterate` | iterate / in process | iterate / CLI | same actions | "
            "post_result at this size | task:post at this size |",
            "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for r in scale:
            lines.append(
                f"| {r['events']} | {r['pending']} | {_ms(r['pendingInProcess']['median'])} | "
                f"{_ms(r['pendingCli']['median'])} | {_ms(r['runIterate']['median'])} | "
                f"{r['ratioIterateOverInProcess']:.1f}x | {r['ratioIterateOverCli']:.1f}x | "
                f"{'yes' if r['sameActionsAsRunIterate'] else 'NO'} | "
                f"{_ms(r['postAtThisSize']['postResultMedianS'])} | "
                f"{_ms(r['postAtThisSize']['taskPostS'])} |"
            )
        lines.append("")
    memory = results.get("memory")
    if memory:
        lines += [
            f"### Memory: dispatcher peak RSS at N={memory['n']}: {memory['maxRssMB']:.0f} MB",
            "",
        ]
    if results.get("targets"):
        lines += ["### Targets", ""]
        for t in results["targets"]:
            mark = "x" if t["met"] else " "
            note = f" — {t['note']}" if t["note"] else ""
            lines.append(f"- [{mark}] {t['target']}: **{t['measured']}**{note}")
        lines.append("")
    return lines


def plot(results: dict[str, Any], path: Path) -> str:
    """Write the PNG; returns what happened (matplotlib is optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install -e '.[bench]')"
    panels = [k for k in ("group", "post", "scale") if results.get(k)]
    if not panels:
        return "plot skipped: nothing measured"
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        if key == "group":
            rows = results["group"]
            ns = [r["n"] for r in rows]
            ax.plot(
                ns, [r["dispatch"]["wallS"] for r in rows], "o-", label="babysit-plugin dispatch"
            )
            measured = [r for r in rows if not r["sequential"]["extrapolated"]]
            extra = [r for r in rows if r["sequential"]["extrapolated"]]
            ax.plot(
                [r["n"] for r in measured],
                [r["sequential"]["wallS"] for r in measured],
                "s-",
                color="tab:red",
                label="sequential + task:post (measured)",
            )
            if extra:
                tail = measured[-1:] + extra
                ax.plot(
                    [r["n"] for r in tail],
                    [r["sequential"]["wallS"] for r in tail],
                    "s--",
                    color="tab:red",
                    mfc="none",
                    label="sequential (extrapolated)",
                )
            ax.plot(ns, [r["idealS"] for r in rows], ":", color="gray", label="ideal (slowest)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("effects in the group (N)")
            ax.set_ylabel("wall time (s)")
            ax.set_title(f"Group of N x {rows[0]['command']}")
            ax.legend(fontsize=8)
        elif key == "post":
            post = results["post"]
            names = ["task:post", "babysit-plugin post", "post_result"]
            keys = ["taskPost", "pluginPostCli", "postResult"]
            med = [post[k]["median"] * 1000 for k in keys]
            p95 = [post[k]["p95"] * 1000 for k in keys]
            x = range(len(names))
            ax.bar([i - 0.2 for i in x], med, 0.4, label="median")
            ax.bar([i + 0.2 for i in x], p95, 0.4, label="p95")
            ax.set_xticks(list(x), names)
            ax.set_yscale("log")
            ax.set_ylabel("ms per result")
            ax.set_title("Posting one result")
            ax.legend(fontsize=8)
        else:
            rows = results["scale"]
            ev = [r["events"] for r in rows]
            ax.plot(ev, [r["pendingInProcess"]["median"] for r in rows], "o-", label="in process")
            ax.plot(
                ev, [r["pendingCli"]["median"] for r in rows], "^-", label="babysit-plugin pending"
            )
            ax.plot(ev, [r["runIterate"]["median"] for r in rows], "s-", label="run:iterate")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("journal events")
            ax.set_ylabel("seconds (median)")
            ax.set_title("Deriving pending actions")
            ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"wrote {path}"


# --- main ------------------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,2,4, found {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers, found {text!r}")
    return values


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, found {text!r}") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"expected 0 < seconds <= 60, found {text}")
    return value


def _sections(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in ("group", "post", "scale")]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected sections among group,post,scale, found {text!r}"
        )
    return names


def parse_args(argv: Sequence[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Writes OUT/results.json, OUT/results.md and OUT/results.png.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run (about 30 s)")
    parser.add_argument("--ns", type=_int_list, help="group sizes (default 1,2,4,...,256)")
    parser.add_argument("--duration", type=_duration, help="seconds each effect sleeps (default 1)")
    parser.add_argument(
        "--seq-full-max",
        type=int,
        help="measure the sequential baseline in full up to this N (default 8)",
    )
    parser.add_argument("--seq-sample", type=int, help="effects measured per larger N (default 3)")
    parser.add_argument(
        "--repeat", type=int, help="dispatch runs per N; the median is reported (default 3)"
    )
    parser.add_argument("--post-rounds", type=int, help="posting rounds (default 20)")
    parser.add_argument(
        "--scale-events", type=_int_list, help="journal sizes (default 100,1000,10000)"
    )
    parser.add_argument(
        "--sections", type=_sections, help="which sections to run (default group,post,scale)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    overrides = {
        "ns": args.ns,
        "duration": args.duration,
        "seq_full_max": args.seq_full_max,
        "seq_sample": args.seq_sample,
        "repeat": args.repeat,
        "post_rounds": args.post_rounds,
        "scale_events": args.scale_events,
        "sections": args.sections,
    }
    values = asdict(cfg)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if any(e < 12 or e % 2 for e in values["scale_events"]):
        parser.error("--scale-events: expected even numbers of at least 12")
    return Config(**values), args


def main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sdk = find_sdk()
    root = Path(tempfile.mkdtemp(prefix="babysit-bench-"))
    try:
        bp = BenchProject(sdk, root / "project")
        results: dict[str, Any] = {"schema": 1, "machine": machine(bp), "config": asdict(cfg)}
        if "group" in cfg.sections:
            results["group"] = bench_group(bp, cfg)
            last = results["group"][-1]
            results["memory"] = {"n": last["n"], "maxRssMB": last["dispatch"]["maxRssMB"]}
        if "post" in cfg.sections:
            results["post"] = bench_post(bp, cfg)
        if "scale" in cfg.sections:
            results["scale"] = bench_scale(bp, cfg)
    finally:
        if args.keep:
            log(f"run directories kept under {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["loadEnd"] = _load()
    results["targets"] = targets(results)
    results["elapsedS"] = time.perf_counter() - started
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = tables(results)
    (out_dir / "results.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    print("\n".join(text))
    message = "plot skipped (--no-plot)" if args.no_plot else plot(results, out_dir / "results.png")
    log(message)
    log(f"wrote {out_dir / 'results.json'} in {results['elapsedS']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
