"""``hook``, ``install`` and ``demo``: the plugin as it drops into an agent's repository."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO, TypeVar

from babysit_plugin.cli import UsageError
from babysit_plugin.commands import argtypes
from babysit_plugin.dropin import demo, hook, install
from babysit_plugin.runloop.execute import ExecOptions
from protocol import jsonjs
from protocol.errors import ProtocolError

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the parser."""
    hk = sub.add_parser(
        "hook",
        help="on-iteration-start hook: perform the pending parallel group inside run:iterate",
        description=(
            "Read an on-iteration-start payload (stdin, else $HOOK_PAYLOAD), perform the "
            "pending parallel group's effects of the --kinds that fit the time budget, and "
            "print only the decision JSON on stdout. Effects still running when the budget "
            "ends are killed and left pending for the skill."
        ),
    )
    hk.add_argument(
        "--repo",
        metavar="DIR",
        help="the project root holding .a5c/ (default: $REPO_ROOT, else the current directory)",
    )
    hk.add_argument("--run-dir", metavar="DIR", help="the run directory (default: from runId)")
    hk.add_argument(
        "--budget",
        type=_seconds,
        metavar="SECONDS",
        help=f"finish this long after the payload's timestamp (default ${BUDGET_ENV}, else "
        f"{hook.DEFAULT_BUDGET:g}; the SDK kills hooks after {hook.SDK_HOOK_LIMIT:g})",
    )
    hk.add_argument(
        "--kinds",
        type=_kinds,
        metavar="KIND[,KIND]",
        help=f"effect kinds the hook performs (default ${KINDS_ENV}, else shell; also sleep, "
        "agent, skill)",
    )
    hk.add_argument(
        "--stall-timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"kill an effect silent this long on stdout and stderr (default ${STALL_ENV}, "
        "else the task's stallTimeoutMs, else none); it is posted as an error",
    )
    hk.add_argument("--harness", metavar="NAME", help="harness for agent/skill kinds")
    hk.add_argument(
        "--harness-command", metavar="CMD", help="command line replacing the harness adapter"
    )
    hk.set_defaults(handler=run_hook_command)

    ins = sub.add_parser(
        "install",
        help="write the hook and the skill into a repository",
        description=(
            "Write .a5c/hooks/on-iteration-start/babysit-plugin.sh (calling this installation "
            "by absolute path) and <skills dir>/babysit-plugin/SKILL.md into REPO_DIR. "
            "Idempotent; never overwrites a file it did not write unless --force."
        ),
    )
    ins.add_argument("repo_dir", nargs="?", default=".", metavar="REPO_DIR")
    ins.add_argument(
        "--skills-dir",
        action="append",
        metavar="DIR",
        help="skills directory relative to REPO_DIR (repeatable; default .claude/skills; "
        ".agents/skills for Codex and OpenCode)",
    )
    ins.add_argument(
        "--with-dispatcher",
        action="store_true",
        help=f"also write {install.DISPATCHER_REL}, without which run:iterate runs no hooks",
    )
    ins.add_argument("--force", action="store_true", help="overwrite files it did not write")
    ins.add_argument(
        "--dry-run", action="store_true", help="show what would change, change nothing"
    )
    ins.add_argument(
        "--uninstall", action="store_true", help="remove what install wrote, and nothing else"
    )
    ins.set_defaults(handler=run_install_command)

    dm = sub.add_parser(
        "demo",
        help="dispatch a bundled run of six 1-second shell effects and time it",
        description=(
            "Copy a run recorded with SDK 0.0.187 (one ctx.parallel.all of six shell effects of "
            "about a second each) into a temporary project, dispatch it, verify it, and print "
            "the wall time against the sequential sum. Needs neither Node nor an agent CLI."
        ),
    )
    dm.add_argument("--dir", metavar="DIR", help="stage the run here and keep it")
    dm.add_argument("--keep", action="store_true", help="keep the temporary project")
    dm.add_argument("--json", action="store_true", help="print a JSON summary")
    dm.set_defaults(handler=run_demo_command)


BUDGET_ENV = "BABYSIT_PLUGIN_HOOK_BUDGET"
KINDS_ENV = "BABYSIT_PLUGIN_HOOK_KINDS"
STALL_ENV = "BABYSIT_PLUGIN_HOOK_STALL_TIMEOUT"


def _from_env(name: str, parse: Callable[[str], T], default: T) -> T:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"${name}: {exc} — fix or unset it") from None


_seconds = argtypes.seconds(zero_allowed=False)


def _kinds(text: str) -> frozenset[str]:
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    if not kinds:
        raise argparse.ArgumentTypeError(f"expected kinds like shell,agent, found {text!r}")
    return kinds


# --- hook -------------------------------------------------------------------------------------


def _read_payload(stdin: TextIO) -> tuple[str, str]:
    text = ""
    if not stdin.isatty():
        text = stdin.read()
    if text.strip():
        return text, "<stdin>"
    env = os.environ.get("HOOK_PAYLOAD", "")
    if env.strip():
        return env, "$HOOK_PAYLOAD"
    raise UsageError(
        "hook: expected the on-iteration-start payload on stdin or in $HOOK_PAYLOAD, found "
        "neither — run:iterate's hook dispatcher provides it; to try by hand, pipe a payload in"
    )


@contextlib.contextmanager
def _decision_stream() -> Iterator[TextIO]:
    """A stream to the real stdout, while file descriptor 1 points at stderr.

    Whatever else writes to stdout (a stray print, a child inheriting fd 1) lands on stderr,
    so the hook's stdout holds only the decision.
    """
    sys.stdout.flush()
    try:
        real = os.dup(1)
    except OSError:  # no fd 1 at all: write where sys.stdout goes
        yield sys.stdout
        return
    os.dup2(2, 1)
    stream = io.TextIOWrapper(os.fdopen(real, "wb", closefd=False), encoding="utf-8")
    try:
        yield stream
    finally:
        stream.flush()
        sys.stdout.flush()
        os.dup2(real, 1)
        os.close(real)


def run_hook_command(args: argparse.Namespace) -> int:
    """``babysit-plugin hook``."""
    text, source = _read_payload(sys.stdin)
    repo = args.repo or os.environ.get("REPO_ROOT") or None
    options = hook.HookOptions(
        repo=Path(repo) if repo else None,
        run_dir=Path(args.run_dir).absolute() if args.run_dir else None,
        budget=args.budget or _from_env(BUDGET_ENV, _seconds, hook.DEFAULT_BUDGET),
        kinds=args.kinds or _from_env(KINDS_ENV, _kinds, hook.DEFAULT_KINDS),
        exec=ExecOptions(
            harness=args.harness,
            harness_command=args.harness_command,
            stall_timeout=args.stall_timeout or _from_env(STALL_ENV, _seconds, None),
        ),
    )
    with _decision_stream() as decision:
        try:
            outcome = hook.run_hook(text, source, options)
        except ProtocolError as exc:
            outcome = hook.hook_error(exc)
        for message in outcome.messages:
            print(f"babysit-plugin hook: {message}", file=sys.stderr)
        decision.write(outcome.decision.text() + "\n")
    return outcome.exit_code


# --- install ----------------------------------------------------------------------------------


def run_install_command(args: argparse.Namespace) -> int:
    """``babysit-plugin install``."""
    try:
        if args.uninstall:
            report = install.uninstall(
                args.repo_dir, skills_dirs=args.skills_dir or (), dry_run=args.dry_run
            )
        else:
            report = install.install(
                args.repo_dir,
                skills_dirs=args.skills_dir or install.DEFAULT_SKILLS_DIRS,
                with_dispatcher=args.with_dispatcher,
                force=args.force,
                dry_run=args.dry_run,
            )
    except install.InstallError as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(install.format_report(report, uninstalling=args.uninstall))
    return 0


# --- demo -------------------------------------------------------------------------------------


def run_demo_command(args: argparse.Namespace) -> int:
    """``babysit-plugin demo``."""
    project, temporary = demo.make_project(args.dir)
    try:
        try:
            result = demo.run_demo(project, None if args.json else sys.stdout)
        except FileExistsError as exc:
            raise UsageError(str(exc)) from exc
        if args.json:
            sys.stdout.write(jsonjs.dumps(result.to_json()) + "\n")
        else:
            sys.stdout.write(demo.format_result(result))
            if not temporary or args.keep:
                sys.stdout.write(f"the run is kept in {result.run_dir}\n")
    finally:
        if temporary and not args.keep:
            shutil.rmtree(project, ignore_errors=True)
    return 0 if result.passed else 1
