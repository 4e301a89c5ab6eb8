"""``babysit-plugin status RUN``: what a run is doing, read only, safe beside any dispatch."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from babysit_plugin.commands import argtypes, runarg
from babysit_plugin.runloop.inspect import EffectView, RunView, inspect_run
from protocol import jsonjs

DESCRIPTION = """\
Show a run's status and every effect that is pending or that the plugin touched:
kind, title, parallel group, state (running, pending, saved, posted, stalled,
orphaned, cancelled), owning pid and host, attempt, time since it started and
since its child last wrote output, and its log files.  Never takes the run lock
and never writes: run it at any time, beside any dispatch.  Orphaned, stalled
and saved effects are resumed by the command it prints.
"""

_interval = argtypes.seconds(zero_allowed=False)

#: Clear the screen and home the cursor (redraw in place on a terminal).
CLEAR = "\x1b[H\x1b[2J"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` subcommand."""
    parser = sub.add_parser(
        "status",
        help="show what a run is doing: running, stalled and orphaned effects (read only)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runarg.add_run_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="keep watching: redraw in place on a terminal, else print only what changed",
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        default=2.0,
        metavar="SECONDS",
        help="seconds between looks with --watch (default 2)",
    )
    parser.set_defaults(handler=run)


def _seconds(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _row(effect: EffectView) -> list[str]:
    if effect.state in ("posted", "saved"):
        timing = [f"{effect.status or '-'} in {_seconds(effect.duration_ms)}", ""]
    else:
        timing = [_seconds(effect.elapsed_ms), _seconds(effect.last_output_ms)]
    return [
        effect.effect_id,
        effect.kind,
        effect.state,
        "-" if effect.pid is None else str(effect.pid),
        "-" if effect.attempt is None else str(effect.attempt),
        *timing,
        effect.title or "",
    ]


HEADER = ["EFFECT", "KIND", "STATE", "PID", "ATTEMPT", "ELAPSED", "LAST OUTPUT", "TITLE"]


def render(view: RunView) -> str:
    """The aligned table, with the run's line above it and hints below."""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(view.counts().items()))
    lines = [f"run {view.run_dir}: {view.run_status}" + (f"; {counts}" if counts else "")]
    if view.effects:
        rows = [HEADER, *(_row(e) for e in view.effects)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
            lines.append("  ".join(cells).rstrip())
    groups = sorted({e.group for e in view.effects if e.group})
    for group in groups:
        lines.append(f"parallel group {group}")
    for effect in view.effects:
        if effect.reason and effect.state not in ("posted", "pending"):
            lines.append(f"{effect.effect_id}: {effect.reason}")
        if effect.logs and effect.state in ("running", "stalled", "orphaned"):
            lines.append(f"{effect.effect_id} logs: {', '.join(effect.logs.values())}")
    if view.resume is not None:
        lines.append(f"resume with: {view.resume}")
    return "\n".join(lines) + "\n"


def _document(view: RunView, as_json: bool) -> str:
    return jsonjs.dumps(view.to_json()) + "\n" if as_json else render(view)


def _key(view: RunView) -> dict[str, str]:
    states: dict[str, str] = {e.effect_id: e.state for e in view.effects}
    states[""] = view.run_status
    return states


def changes(before: dict[str, str], after: dict[str, str], at: float) -> list[str]:
    """One line per effect whose state changed (or that appeared or left the view)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    lines = []
    if before.get("") != after.get(""):
        lines.append(f"{stamp} run: {before.get('', '-')} -> {after.get('', '-')}")
    for eid in sorted((set(before) | set(after)) - {""}):
        old, new = before.get(eid, "-"), after.get(eid, "-")
        if old != new:
            lines.append(f"{stamp} {eid}: {old} -> {new}")
    return lines


def watch(run_dir: Path, *, interval: float, as_json: bool, out: TextIO, tty: bool) -> int:
    """Look again every ``interval`` seconds until interrupted (Ctrl-C ends it, exit 0)."""
    previous: dict[str, str] | None = None
    try:
        while True:
            view = inspect_run(run_dir)
            if tty:
                out.write(CLEAR + _document(view, as_json))
            elif previous is None:
                out.write(_document(view, as_json))
            else:
                current = _key(view)
                if current != previous:
                    if as_json:
                        out.write(_document(view, as_json))
                    else:
                        out.write("\n".join(changes(previous, current, time.time())) + "\n")
            previous = _key(view)
            out.flush()
            time.sleep(interval)  # the display's rhythm, not a synchronisation
    except KeyboardInterrupt:
        return 0


def run(args: argparse.Namespace) -> int:
    """Handle ``babysit-plugin status``."""
    run_dir = runarg.run_dir_of(args)
    out = sys.stdout
    if args.watch:
        return watch(run_dir, interval=args.interval, as_json=args.json, out=out, tty=out.isatty())
    out.write(_document(inspect_run(run_dir), args.json))
    return 0
