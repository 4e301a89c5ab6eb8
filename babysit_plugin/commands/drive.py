"""``babysit-plugin drive RUN``: a run to its next human decision in one command."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from babysit_plugin.commands import effectargs, isolateargs, runarg
from babysit_plugin.drive.iterate import Iteration
from babysit_plugin.drive.loop import EXIT_STATUS, DriveOptions, DriveReport, drive_run
from babysit_plugin.runloop import progress
from babysit_plugin.runloop.dispatch import DispatchOptions
from protocol import jsonjs

DESCRIPTION = f"""\
Drive a babysitter run until it is completed, failed, halted, or waiting on something
only a human or the orchestrator can give: ask the SDK (run:iterate) for the next
actions, perform every effect this command may perform (as dispatch does), post each
result the moment it is ready, and ask again.  On SDK 6.x a posted result starts the
next iteration while other effects still run; on 0.0.x it goes wave by wave.
Exit status: {EXIT_STATUS["completed"]} completed, {EXIT_STATUS["waiting"]} waiting,
{EXIT_STATUS["failed"]} failed, {EXIT_STATUS["halted"]} halted; 1 when the run could
not be read, run:iterate failed or a post failed; 130/143 when interrupted
(unfinished effects stay pending; run drive again).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``drive`` subcommand."""
    parser = sub.add_parser(
        "drive",
        help="drive a run to completion or to its next human decision",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runarg.add_run_argument(parser)
    effectargs.add_effect_arguments(parser)
    isolateargs.add_isolate_arguments(parser)
    parser.add_argument(
        "--interactive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask breakpoints in the terminal and post the answers (default: on when stdin "
        "and stdout are terminals; never when stdin is not one)",
    )
    parser.add_argument(
        "--no-stream",
        action="store_true",
        help="wave by wave even on SDK 6.x (wait for every running effect before iterating)",
    )
    parser.add_argument(
        "--babysitter",
        metavar="PATH",
        help="the babysitter CLI to ask (default: $BABYSITTER_CLI, else the project's "
        "node_modules/.bin/babysitter, else babysitter on PATH)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.set_defaults(handler=run)


def _iteration_line(number: int, it: Iteration, started: int, running: int) -> str:
    line = f"iteration {number}: {it.status}"
    if it.actions:
        line += f", {len(it.actions)} pending"
    if started:
        line += f", {started} started"
    if running:
        line += f", {running} running"
    return line + f" ({it.seconds:.1f} s)"


def last_lines(report: DriveReport, seconds: float) -> list[str]:
    """What the run ended on and, when it waits, the command that continues it."""
    posted = sum(1 for e in report.effects if e.posted)
    head = (
        f"{report.status} after {report.iterations} iteration"
        f"{'s' if report.iterations != 1 else ''}; {posted} effect"
        f"{'s' if posted != 1 else ''} posted in {seconds:.1f} s"
    )
    lines = [head]
    if report.status == "failed" and report.error is not None:
        lines.append(f"  error: {report.error.get('message')}")
    if report.status == "waiting":
        for w in report.waiting_on:
            what = f"  waits on {w.kind} {w.effect_id}"
            if w.title:
                what += f" {w.title!r}"
            what += f": {w.question or w.reason}"
            lines.append(what)
        cmd = f"babysit-plugin drive {report.run_dir}"
        if any(w.kind == "breakpoint" for w in report.waiting_on):
            lines.append(
                "answer with `babysitter task:post "
                f"{report.run_dir} EFFECT_ID --status ok --value-inline "
                '\'{"approved": true, "response": "..."}\'`, then run: ' + cmd
            )
        else:
            lines.append(f"continue with: {cmd}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Handle ``babysit-plugin drive``."""
    out: TextIO = sys.stdout
    exec_opts = effectargs.exec_options_from_args(args)
    display = progress.for_stream(out, quiet=args.json)
    interactive = args.interactive
    stdin_tty = sys.stdin.isatty()
    if interactive is None:
        interactive = stdin_tty and out.isatty() and not args.json
    elif interactive and not stdin_tty:
        interactive = False
    asker = None
    if interactive:
        from babysit_plugin.drive.interactive import TerminalAsker

        asker = TerminalAsker(sys.stdin, out)

    def on_iteration(number: int, it: Iteration, started: int, running: int) -> None:
        if args.json:
            return
        clear = "\r\x1b[2K" if out.isatty() else ""
        out.write(clear + _iteration_line(number, it, started, running) + "\n")
        out.flush()

    options = DriveOptions(
        dispatch=DispatchOptions(
            exec=exec_opts,
            max_concurrency=args.max_concurrency,
            lock_timeout=args.lock_timeout,
            isolate=isolateargs.isolate_options(args),
            progress=display,
        ),
        cli=args.babysitter,
        stream=False if args.no_stream else None,
        ask=asker,
        on_iteration=on_iteration,
    )
    t0 = time.monotonic()
    report = drive_run(runarg.run_dir_of(args), options)
    if args.json:
        out.write(jsonjs.dumps(report.to_json()) + "\n")
    else:
        for note in report.notes:
            out.write(f"note: {note}\n")
        for line in last_lines(report, time.monotonic() - t0):
            out.write(line + "\n")
    out.flush()
    for problem in report.problems:
        print(f"babysit-plugin: error: {problem}", file=sys.stderr)
    if report.interrupted_by is not None:
        print("babysit-plugin: interrupted; unfinished effects left pending", file=sys.stderr)
    return report.exit_code
