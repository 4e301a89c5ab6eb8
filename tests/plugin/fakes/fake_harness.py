"""A stand-in for every harness CLI (claude, codex, pi, gemini, ...), for tests.

Run as ``fake_harness.py NAME ARGS...`` through a wrapper named like the real
CLI.  It records its argv, stdin, environment, working directory and wall-clock start/end
times (``time.time_ns()``: comparable across processes) in
``$FAKE_HARNESS_LOG/<effect>-<name>-<pid>.json`` (written once at start, again
at the end), then answers in the real CLI's output format.

What it does is read from the prompt (stdin, or the argv the CLI takes it
from), one directive per line:

``@reply TEXT``      the answer (default ``done``)
``@sleep SECONDS``   take this long
``@exit CODE``       exit with this code (after printing the answer)
``@stderr TEXT``     write TEXT to stderr
``@error TEXT``      report failure inside the envelope (is_error / error / success false)
``@raw TEXT``        print TEXT as-is instead of the envelope
``@forever``         never finish (ignore SIGTERM too)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def _prompt(name: str, argv: list[str], stdin: str) -> str:
    if stdin:
        return stdin
    if name in ("gemini", "copilot") and "-p" in argv:
        return argv[argv.index("-p") + 1]
    if name == "babysitter" and "--prompt" in argv:
        return argv[argv.index("--prompt") + 1]
    return argv[-1] if argv else ""


def _directives(prompt: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in prompt.splitlines():
        line = raw.strip()
        if line.startswith("@"):
            key, _, value = line[1:].partition(" ")
            found[key] = value
    return found


def main() -> int:
    name = sys.argv[1]
    argv = sys.argv[2:]
    start = time.time_ns()
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    prompt = _prompt(name, argv, stdin)
    d = _directives(prompt)
    log_dir = Path(os.environ.get("FAKE_HARNESS_LOG", "."))
    effect = os.environ.get("BABYSIT_PLUGIN_EFFECT_ID", "none")
    record_path = log_dir / f"{effect}-{name}-{os.getpid()}.json"
    record = {
        "name": name,
        "argv": argv,
        "stdin": stdin,
        "prompt": prompt,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "pid": os.getpid(),
        "pgid": os.getpgrp(),
        "effect": effect,
        "start": start,
        "end": None,
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, record_path)

    if "forever" in d:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(0.05)
    if "sleep" in d:
        time.sleep(float(d["sleep"]))
    reply = d.get("reply", "done")
    error = d.get("error")
    if "stderr" in d:
        sys.stderr.write(d["stderr"] + "\n")

    if "raw" in d:
        sys.stdout.write(d["raw"])
    elif name in ("claude", "cursor-agent", "agent"):
        envelope = {
            "type": "result",
            "subtype": "success" if error is None else "error_during_execution",
            "is_error": error is not None,
            "duration_ms": 12,
            "result": reply if error is None else error,
            "session_id": "fake-session",
        }
        sys.stdout.write(json.dumps(envelope) + "\n")
    elif name == "gemini":
        body: dict[str, object] = {"response": reply, "stats": {"models": {}}}
        if error is not None:
            body = {"error": {"type": "ApiError", "message": error, "code": 1}}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    elif name == "codex":
        sys.stdout.write("[fake codex] thinking...\n")
        if "--output-last-message" in argv:
            Path(argv[argv.index("--output-last-message") + 1]).write_text(reply)
    elif name == "babysitter":
        ok = error is None
        body = {
            "success": ok,
            "output": reply if ok else error,
            "exitCode": 0 if ok else 1,
            "duration": 5,
            "harness": argv[1] if len(argv) > 1 else "?",
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        if not ok:
            record["end"] = time.time_ns()
            record_path.write_text(json.dumps(record))
            return 1
    else:
        sys.stdout.write(reply + "\n")

    sys.stdout.flush()
    record["end"] = time.time_ns()
    tmp.write_text(json.dumps(record))
    os.replace(tmp, record_path)
    return int(d.get("exit", "0"))


if __name__ == "__main__":
    sys.exit(main())
