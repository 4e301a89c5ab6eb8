"""``babysit-plugin dispatch RUN_DIR``: run the pending effects, posting each as it finishes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from babysit_plugin.cli import UsageError
from babysit_plugin.commands import argtypes
from babysit_plugin.harness import adapters
from babysit_plugin.runloop import execute, progress, retry
from babysit_plugin.runloop.dispatch import DispatchOptions, DispatchReport, dispatch_run
from protocol import jsonjs
from protocol.pending import actions_from_payload

DESCRIPTION = """\
Run the pending effects of a babysitter run side by side and post each result
the moment it is ready.  Effects sharing a parallelGroupId run concurrently
(one child process per effect, each in its own process group); other effects
run one after the other.  Exit status: 0 when every dispatched effect was
posted (a failed effect is a posted error result), 1 when the run could not be
read or a post failed, 130/143 when interrupted (unfinished effects stay
pending).
"""


_positive_int = argtypes.whole_number(1)
_count = argtypes.whole_number(0)
_seconds = argtypes.seconds(zero_allowed=False)
_horizon = argtypes.seconds(zero_allowed=True)


def _exit_codes(text: str) -> frozenset[int]:
    try:
        return retry.parse_exit_codes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pattern(text: str) -> str:
    try:
        return retry.check_pattern(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _harness(text: str) -> str:
    if not adapters.is_known_harness(text):
        raise argparse.ArgumentTypeError(
            f"unknown harness {text!r}: expected one of {', '.join(adapters.HARNESS_NAMES)} "
            "or sdk:NAME"
        )
    return adapters.normalize_harness(text)


def _kinds(text: str) -> frozenset[str]:
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    if not kinds:
        raise argparse.ArgumentTypeError("expected a comma-separated list of kinds")
    return kinds


STALL_HELP = (
    "kill an effect's process group when its stdout and stderr stay silent this long, and "
    "post an error saying so (retried under --retries); default: the task's stallTimeoutMs, "
    "else none. Agent CLIs in print mode write nothing until they finish: see the README "
    "for which adapters stream progress"
)


def add_stall_timeout(parser: argparse.ArgumentParser) -> None:
    """``--stall-timeout SECONDS`` (dispatch, hook, and every command that dispatches)."""
    parser.add_argument("--stall-timeout", type=_seconds, metavar="SECONDS", help=STALL_HELP)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``dispatch`` subcommand."""
    parser = sub.add_parser(
        "dispatch",
        help="run a run's pending effects concurrently and post their results",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (.a5c/runs/<id>)")
    parser.add_argument(
        "--actions",
        metavar="FILE|-",
        help="dispatch the actions of a `run:iterate --json` output or hook payload "
        "(- reads stdin) instead of the journal's pending list",
    )
    parser.add_argument("--group", metavar="ID", help="only effects with this parallelGroupId")
    parser.add_argument(
        "--max-concurrency",
        type=_positive_int,
        metavar="N",
        help="at most N effects at once (default: the wave size)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="per-effect time limit (default: the task's timeoutMs, else none); the effect's "
        "process group is killed and an error result posted",
    )
    add_stall_timeout(parser)
    parser.add_argument(
        "--harness",
        type=_harness,
        metavar="NAME",
        help=f"harness for agent/skill effects: {', '.join(adapters.HARNESS_NAMES)}, sdk:NAME "
        "(default: the task's, run.json's, $BABYSITTER_HARNESS, else claude-code)",
    )
    parser.add_argument(
        "--harness-command",
        metavar="CMD",
        help="run this command line instead of a harness adapter; {prompt_file}, {task_file}, "
        "{effect_id}, {run_dir}, {workspace} are substituted, the prompt is on stdin, stdout "
        "is the answer",
    )
    parser.add_argument("--model", metavar="MODEL", help="model passed to the harness CLI")
    parser.add_argument(
        "--kinds",
        type=_kinds,
        default=frozenset(),
        metavar="KIND[,KIND]",
        help="also send these kinds (node, orchestrator_task, ...) through the harness",
    )
    parser.add_argument(
        "--sleep-horizon",
        type=_horizon,
        default=60.0,
        metavar="SECONDS",
        help="wait for sleeps due within this many seconds (default 60); later ones stay pending",
    )
    parser.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the run lock when posting (default 10)",
    )
    parser.add_argument(
        "--retries",
        type=_count,
        default=0,
        metavar="N",
        help="run an effect that failed with a transient signature (rate limit, overload) "
        "up to N more times, with exponential backoff and jitter (default 0); the last "
        "failure is the one posted",
    )
    parser.add_argument(
        "--retry-on-exit",
        type=_exit_codes,
        metavar="CODES",
        help="exit codes that are transient, comma-separated (default: "
        f"{','.join(map(str, sorted(retry.DEFAULT_EXIT_CODES)))}); replaces the default",
    )
    parser.add_argument(
        "--retry-on-pattern",
        type=_pattern,
        action="append",
        metavar="REGEX",
        help="an output pattern (case-insensitive) that is transient; repeatable; replaces "
        "the default rate-limit/overload patterns",
    )
    parser.add_argument(
        "--retry-delay",
        type=_seconds,
        default=retry.DEFAULT_DELAY,
        metavar="SECONDS",
        help=f"first backoff, doubled each retry (default {retry.DEFAULT_DELAY:g})",
    )
    parser.add_argument(
        "--retry-max-delay",
        type=_seconds,
        default=retry.DEFAULT_MAX_DELAY,
        metavar="SECONDS",
        help=f"longest backoff (default {retry.DEFAULT_MAX_DELAY:g})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the waves and exact commands; run nothing"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(handler=run)


def _load_actions(source: str) -> tuple[object, str]:
    if source == "-":
        text, where = sys.stdin.read(), "stdin"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{source}: expected a readable JSON file of actions, found "
                f"{getattr(exc, 'strerror', None) or exc} — pass the output of "
                "`babysitter run:iterate --json` or a hook payload"
            ) from exc
        where = source
    try:
        return jsonjs.loads(text), where
    except ValueError as exc:
        raise UsageError(
            f"{where}: expected JSON (a `run:iterate --json` output, a hook payload or a list "
            f"of actions), found invalid JSON ({exc}) — pass the file unchanged"
        ) from exc


def options_from_args(args: argparse.Namespace, out: TextIO) -> DispatchOptions:
    """The dispatch options a parsed command line asks for."""
    actions = None
    if args.actions is not None:
        data, where = _load_actions(args.actions)
        actions = tuple(actions_from_payload(data, where))  # type: ignore[arg-type]
    if args.harness_command is not None:
        try:
            adapters.CustomCommand(args.harness_command)
        except adapters.UnknownHarness as exc:
            raise UsageError(str(exc)) from exc
    policy = retry.RetryPolicy(
        retries=args.retries,
        exit_codes=(retry.DEFAULT_EXIT_CODES if args.retry_on_exit is None else args.retry_on_exit),
        patterns=(
            retry.DEFAULT_PATTERNS
            if args.retry_on_pattern is None
            else tuple(args.retry_on_pattern)
        ),
        delay=args.retry_delay,
        max_delay=args.retry_max_delay,
    )
    exec_opts = execute.ExecOptions(
        harness=args.harness,
        harness_command=args.harness_command,
        model=args.model,
        kinds=args.kinds,
        timeout=args.timeout,
        stall_timeout=args.stall_timeout,
        sleep_horizon=args.sleep_horizon,
        retry=policy,
    )
    display = progress.for_stream(out, quiet=args.json or args.dry_run)
    return DispatchOptions(
        exec=exec_opts,
        group=args.group,
        actions=actions,
        max_concurrency=args.max_concurrency,
        dry_run=args.dry_run,
        lock_timeout=args.lock_timeout,
        progress=display,
    )


def print_plan(report: DispatchReport, out: TextIO) -> None:
    """The ``--dry-run`` text: waves, and each effect's exact command."""
    by_id = {e.effect_id: e for e in report.effects}
    if not report.waves:
        out.write("nothing to dispatch: no pending effect\n")
    for wave in report.waves:
        cap = wave.max_concurrency or len(wave.actions)
        group = f"group {wave.parallel_group_id}" if wave.parallel_group_id else "single"
        if wave.sequential:
            group += ", sequential"
        out.write(
            f"wave {wave.index}: {group} ({len(wave.actions)} effects, up to {cap} at once)\n"
        )
        for action in wave.actions:
            effect = by_id.get(action.effect_id)
            if effect is None:
                continue
            title = f"  {effect.title}" if effect.title else ""
            out.write(f"  {effect.effect_id}  {effect.kind}{title}\n")
            if effect.status == "planned" and effect.command:
                out.write(f"    {effect.command}\n")
            elif effect.reason:
                out.write(f"    {effect.status}: {effect.reason}\n")


def summary_line(report: DispatchReport, seconds: float) -> str:
    c = report.counts
    line = (
        f"dispatched {c['total']} effect{'s' if c['total'] != 1 else ''}: {c['ok']} ok, "
        f"{c['error']} error, {c['skipped']} skipped; {c['posted']} posted in {seconds:.1f} s"
    )
    if report.interrupted_by is not None or report.deadline_reached:
        line += "; interrupted, unfinished effects left pending"
    return line


def run(args: argparse.Namespace) -> int:
    """Handle ``babysit-plugin dispatch``."""
    out = sys.stdout
    options = options_from_args(args, out)
    t0 = time.monotonic()
    report = dispatch_run(args.run_dir, options)
    if args.json:
        out.write(jsonjs.dumps(report.to_json()) + "\n")
    elif args.dry_run:
        print_plan(report, out)
    else:
        for note in report.notes:
            out.write(f"note: {note}\n")
        out.write(summary_line(report, time.monotonic() - t0) + "\n")
    out.flush()
    for problem in report.problems:
        print(f"babysit-plugin: error: {problem}", file=sys.stderr)
    if report.interrupted_by is not None:
        print("babysit-plugin: interrupted; unfinished effects left pending", file=sys.stderr)
    return report.exit_code
