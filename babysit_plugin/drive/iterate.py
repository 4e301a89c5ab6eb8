"""How a drive asks the SDK for the next actions: the project's own ``run:iterate``.

Each iteration is the SDK's ``babysitter run:iterate RUN --json``, unchanged, so
everything it does is kept: its replay of the process and the ``EFFECT_REQUESTED``
events it appends, ``RUN_COMPLETED`` / ``RUN_FAILED`` (and ``RUN_ITERATION`` on 6.x),
the state cache, and the ``on-iteration-start`` / ``on-iteration-end`` hooks. The
journal a drive leaves is therefore the one the iterate + dispatch loop leaves.  The
price is Node's start-up per iteration (about 0.45 s on 0.0.187, 1.3 s on 6.0.3); the
child runs under gevent, so effects already running keep running while it does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import attrs
import gevent.subprocess

from protocol import jsonjs
from protocol.errors import ProtocolError
from protocol.jsonjs import JsonValue
from protocol.models import JournalEntry, PendingAction, Run
from protocol.pending import actions_from_payload

#: ``run:iterate``'s statuses after which the run goes no further without a human.
TERMINAL = frozenset({"completed", "failed", "halted"})


class IterateError(ProtocolError, RuntimeError):
    """``run:iterate`` failed or printed something that is not its JSON result."""


@attrs.frozen
class Iteration:
    """What one ``run:iterate --json`` reported."""

    status: str
    actions: tuple[PendingAction, ...]
    raw: dict[str, JsonValue]
    seconds: float


def find_cli(run: Run, explicit: str | None = None) -> str:
    """The ``babysitter`` CLI to ask: ``--babysitter``, else ``$BABYSITTER_CLI``, else the
    project's own ``node_modules/.bin/babysitter`` (the run's repository or an ancestor of
    the run directory), else ``babysitter`` on ``PATH``."""
    if explicit:
        return explicit
    env = os.environ.get("BABYSITTER_CLI")
    if env:
        return env
    starts = [run.repo_root, run.path]
    for start in starts:
        for directory in (start, *start.parents):
            candidate = directory / "node_modules" / ".bin" / "babysitter"
            if candidate.exists():
                return str(candidate)
    found = shutil.which("babysitter")
    if found is None:
        raise IterateError(
            f"{run.path}: expected the babysitter CLI in the project's node_modules/.bin or on "
            "PATH, found neither — install the SDK in the project or pass --babysitter PATH"
        )
    return found


def iterate(run: Run, cli: str, *, timeout: float = 600.0) -> Iteration:
    """Run one ``run:iterate RUN --json`` and parse it (raises :class:`IterateError`)."""
    import time

    t0 = time.monotonic()
    try:
        proc = gevent.subprocess.run(
            [cli, "run:iterate", str(run.path), "--json"],
            cwd=str(run.repo_root),
            stdin=gevent.subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, gevent.subprocess.TimeoutExpired) as exc:
        raise IterateError(f"{run.path}: `{cli} run:iterate` could not run: {exc}") from exc
    seconds = time.monotonic() - t0
    text = proc.stdout.strip()
    data: JsonValue = None
    if text:
        try:
            data = jsonjs.loads(text)
        except ValueError:
            data = None
    if proc.returncode != 0 or not isinstance(data, dict) or "status" not in data:
        detail = (proc.stderr.strip() or text or f"exit {proc.returncode}").splitlines()
        raise IterateError(
            f"{run.path}: `babysitter run:iterate` failed (exit {proc.returncode}): "
            f"{detail[-1] if detail else ''} — fix what it says and run drive again"
        )
    status = str(data["status"])
    actions = (
        tuple(actions_from_payload(data, "run:iterate --json")) if "nextActions" in data else ()
    )
    return Iteration(status=status, actions=actions, raw=data, seconds=seconds)


#: Events that end a run in failure: ``RUN_FAILED``, and 6.x's recoverable
#: ``PROCESS_RUNTIME_ERROR`` (``run:recover-process-error``), which ``run:iterate`` also
#: reports as ``failed``.
FAILURE_EVENTS = frozenset({"RUN_FAILED", "PROCESS_RUNTIME_ERROR"})


def run_failure(entries: Sequence[JournalEntry]) -> tuple[str, dict[str, JsonValue]] | None:
    """The type and ``error`` of the last failure event (message and stack as the SDK
    recorded them)."""
    found: tuple[str, dict[str, JsonValue]] | None = None
    for entry in entries:
        body = entry.body
        kind = body.get("type")
        if isinstance(kind, str) and kind in FAILURE_EVENTS:
            data = body.get("data")
            error = data.get("error") if isinstance(data, dict) else None
            found = (kind, error if isinstance(error, dict) else {"message": str(error)})
    return found
