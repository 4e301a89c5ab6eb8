"""``babysit-plugin dispatch RUN_DIR``: run the pending effects, posting each as it finishes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from babysit_plugin.cli import UsageError
from babysit_plugin.commands import effectargs, isolateargs, runarg
from babysit_plugin.runloop import progress
from babysit_plugin.runloop.dispatch import DispatchOptions, DispatchReport, dispatch_run
from protocol import jsonjs
from protocol.pending import actions_from_payload

DESCRIPTION = """\
Run the pending effects of a babysitter run side by side and post each result
the moment it is ready.  Effects sharing a parallelGroupId run concurrently
(one child process per effect, each in its own process group); other effects
run one after the other.  Exit status: 0 when every dispatched effect was
posted (a failed effect is a posted error result), 1 when the run could not be
read or a post failed, 4 when the run is already completed, failed or halted
(nothing is run), 5 when nothing could be performed (every pending effect was
left pending: the summary says which and why), 130/143 when interrupted
(unfinished effects stay pending).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``dispatch`` subcommand."""
    parser = sub.add_parser(
        "dispatch",
        help="run a run's pending effects concurrently and post their results",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runarg.add_run_argument(parser)
    parser.add_argument(
        "--actions",
        metavar="FILE|-",
        help="dispatch the actions of a `run:iterate --json` output or hook payload "
        "(- reads stdin) instead of the journal's pending list",
    )
    parser.add_argument("--group", metavar="ID", help="only effects with this parallelGroupId")
    effectargs.add_effect_arguments(parser)
    isolateargs.add_isolate_arguments(parser)
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
    exec_opts = effectargs.exec_options_from_args(args)
    display = progress.for_stream(out, quiet=args.json or args.dry_run)
    return DispatchOptions(
        exec=exec_opts,
        group=args.group,
        actions=actions,
        max_concurrency=args.max_concurrency,
        dry_run=args.dry_run,
        lock_timeout=args.lock_timeout,
        progress=display,
        isolate=isolateargs.isolate_options(args),
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
        f"{c['error']} error, {c['skipped']} skipped"
        + "".join(f", {c[k]} {k}" for k in ("cancelled", "refused") if c.get(k))
        + f"; {c['posted']} posted in {seconds:.1f} s"
    )
    if report.interrupted_by is not None or report.deadline_reached:
        line += "; interrupted, unfinished effects left pending"
    return line


def run(args: argparse.Namespace) -> int:
    """Handle ``babysit-plugin dispatch``."""
    out = sys.stdout
    options = options_from_args(args, out)
    t0 = time.monotonic()
    report = dispatch_run(runarg.run_dir_of(args), options)
    if args.json:
        out.write(jsonjs.dumps(report.to_json()) + "\n")
    elif args.dry_run:
        if report.run_over:
            out.write(report.left_pending() + "\n")
        print_plan(report, out)
    else:
        for note in report.notes:
            out.write(f"note: {note}\n")
        if report.run_over or report.nothing_done:
            out.write(report.left_pending() + "\n")
        else:
            out.write(summary_line(report, time.monotonic() - t0) + "\n")
    out.flush()
    for problem in report.problems:
        print(f"babysit-plugin: error: {problem}", file=sys.stderr)
    if report.interrupted_by is not None:
        print("babysit-plugin: interrupted; unfinished effects left pending", file=sys.stderr)
    return report.exit_code
