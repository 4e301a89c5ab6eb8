"""The options ``dispatch`` and ``drive`` share: how effects are performed and posted.

One registration and one reading of them, so both commands take the same flags with the
same meaning and defaults.
"""

from __future__ import annotations

import argparse

from babysit_plugin.cli import UsageError
from babysit_plugin.commands import argtypes
from babysit_plugin.harness import adapters
from babysit_plugin.runloop import execute, retry

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
    adapter = adapters.get_adapter(text)
    if isinstance(adapter, adapters.SdkInvoke):
        raise argparse.ArgumentTypeError(adapter.preflight({}) or "the sdk harness is refused")
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


def add_effect_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the flags that say how effects are performed (harness, kinds, timeouts,
    retries, concurrency, sleeps, the run lock)."""
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
        help="per-effect time limit; the smallest of this and the task's own (shell.timeout, "
        "shell.timeoutMs, timeoutMs, metadata.timeoutMs, all ms) applies; the effect's process "
        "group is killed and an error result naming the limit posted",
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
        "--schema-retries",
        type=_count,
        default=0,
        metavar="N",
        help="run an agent/skill effect whose answer does not match its outputSchema up to N "
        "more times, the violation appended to the prompt, before posting the error (default 0)",
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


def exec_options_from_args(args: argparse.Namespace) -> execute.ExecOptions:
    """The execution options the flags of :func:`add_effect_arguments` ask for."""
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
        schema_retries=args.schema_retries,
    )
    return exec_opts
