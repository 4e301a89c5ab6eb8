"""Run many ``babysit-plugin`` commands quickly: one warm interpreter forks each of them.

The crash tests run well over a hundred dispatchers; starting Python and importing
gevent for each costs far more than the dispatch.  This server imports the plugin once,
then for each request (one JSON line on stdin: ``{"argv", "fault", "cwd"}``) forks a
child that arms the crash point (``faults.arm``, what ``BABYSIT_PLUGIN_FAULT`` does at
import), runs ``babysit_plugin.cli.main(argv)`` with stdout/stderr in temp files, and
exits with its status.  The reply is one JSON line: ``{"code", "stdout", "stderr"}``,
``code`` negative for a signal (-9: the crash point fired), like ``subprocess``.

The parent never runs gevent, so each child starts with a fresh hub, as a new process
would.  A child still running after ``ALARM`` seconds is ended by SIGALRM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile

from babysit_plugin import cli
from babysit_plugin.runloop import faults

ALARM = 90


def _child(argv: list[str], fault: str | None, out: int, err: int) -> None:
    os.dup2(out, 1)
    os.dup2(err, 2)
    signal.alarm(ALARM)
    try:
        faults.arm(fault)
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_one(request: dict[str, object]) -> dict[str, object]:
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    fault = request.get("fault")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            _child(argv, fault if isinstance(fault, str) else None, out.fileno(), err.fileno())
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out.seek(0)
        err.seek(0)
        return {
            "code": code,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = _serve_one(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
