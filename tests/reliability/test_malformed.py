"""A corpus of malformed inputs: each gives one clear error, or an error result, and the
run directory is unchanged or validly appended; nothing outside it is read or written.

Inputs: journal files, run.json, task.json, the plugin's own state, planted symlinks and
FIFOs, ``--actions`` files, hook payloads, and children whose output is binary, huge or
never ends.  Every case starts from the same two-effect run; files outside the run
(``outside/``, holding a secret) must stay untouched and unread.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kit import Baselines, RunDir, install_fakes, make_run, shell, snapshot, snapshot_diff

from babysit_plugin.cli import main
from babysit_plugin.dropin import hook
from protocol.errors import ProtocolError
from protocol.journal import append_event, open_run, read_journal
from protocol.jsonjs import JsonValue, to_file_text
from protocol.ulid import next_ulid

SECRET = "TOP-SECRET-7f3a"
PRIVATE = ".babysit-plugin"


@dataclass
class Ctx:
    """One case's world: the run, a directory outside it, and what to invoke."""

    tmp: Path
    run: RunDir
    outside: Path
    argv: list[str] = field(default_factory=list)
    stdin: str | None = None
    payload: str | None = None

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def e0(self) -> str:
        return self.run.effect_ids[0]

    @property
    def e1(self) -> str:
        return self.run.effect_ids[1]

    def task(self, index: int = 0) -> Path:
        return self.path / "tasks" / self.run.effect_ids[index] / "task.json"

    def fifo(self, path: Path) -> None:
        if path.exists():
            path.unlink()
        os.mkfifo(path)

    def link_out(self, path: Path, target: str) -> None:
        """Replace ``path`` with a symlink to ``outside/<target>``."""
        if path.is_dir() and not path.is_symlink():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(self.outside / target)

    def event_file(self, text: str | bytes) -> Path:
        """A raw journal file after the head (next seq, next ULID)."""
        head = read_journal(open_run(self.path)).head
        assert head is not None
        name = f"{head[0] + 1:06d}.{next_ulid(0, head[1])}.json"
        path = self.path / "journal" / name
        if isinstance(text, str):
            text = text.encode()
        path.write_bytes(text)
        return path

    def append(self, event_type: str, data: dict[str, JsonValue]) -> None:
        run = open_run(self.path)
        append_event(run, read_journal(run), event_type, data)

    def request(self, effect_id: str, task: dict[str, JsonValue] | None, **data: JsonValue) -> None:
        """An EFFECT_REQUESTED (and its task.json when ``task``), as the SDK writes them."""
        if task is not None:
            target = self.path / "tasks" / effect_id / "task.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(to_file_text(task))
        body: dict[str, JsonValue] = {
            "effectId": effect_id,
            "invocationKey": f"k:{effect_id}",
            "stepId": "S9",
            "taskId": "t9",
            "kind": "shell",
            "taskDefRef": f"tasks/{effect_id}/task.json",
        }
        body.update(data)
        self.append("EFFECT_REQUESTED", body)

    def rewrite_task(self, index: int, **fields: JsonValue) -> None:
        path = self.task(index)
        task = json.loads(path.read_text())
        task.update(fields)
        path.write_text(to_file_text(task))

    def outcome(self, effect_id: str, text: str) -> None:
        path = self.path / PRIVATE / "outcomes" / f"{effect_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        (self.path / PRIVATE / ".gitignore").write_text("*\n")
        path.write_text(text)

    def dispatch(self, *extra: str) -> None:
        self.argv = ["dispatch", str(self.path), *extra]


@dataclass(frozen=True)
class Case:
    """How to break the run, and what must come out."""

    name: str
    setup: Callable[[Ctx], None]
    code: int
    #: Exact stderr lines (format fields: {run}, {e0}, {e1}, {outside}, {tmp}); None: empty.
    stderr: tuple[str, ...] | None = None
    #: Per effect index: ("ok", value) or ("error", message regex); absent ones stay pending.
    results: dict[int, tuple[str, Any]] = field(default_factory=dict)
    #: The run's verify errors before acting stay (a broken input stays broken).
    broken: bool = False
    #: Paths (relative to the run) a case may replace, beyond appended results.
    may_change: tuple[str, ...] = ()
    #: The first effect's task definition (default: a shell effect printing "one").
    first: dict[str, JsonValue] | None = None
    #: "none": a refusal leaves the run byte for byte as it was; "skeleton": the plugin
    #: may add its empty state directories (the bad input was in them).
    change: str = "none"


def _bad_json(ctx: Ctx) -> None:
    ctx.event_file("{not json")
    ctx.dispatch()


def _binary_event(ctx: Ctx) -> None:
    ctx.event_file(bytes(range(256)) * 4)
    ctx.dispatch()


def _huge_event(ctx: Ctx) -> None:
    ctx.event_file(b" " * (8 << 20) + b"[")
    ctx.dispatch()


def _fifo_event(ctx: Ctx) -> None:
    ctx.fifo(ctx.event_file("{}"))
    ctx.dispatch()


def _symlink_event(ctx: Ctx) -> None:
    ctx.link_out(ctx.event_file("{}"), "event.json")
    ctx.dispatch()


def _seq_gap(ctx: Ctx) -> None:
    files = sorted((ctx.path / "journal").iterdir())
    last = files[-1]
    last.rename(last.with_name(f"{int(last.name[:6]) + 1:06d}{last.name[6:]}"))
    ctx.dispatch()


def _double_resolved(ctx: Ctx) -> None:
    for _ in range(2):
        ctx.append("EFFECT_RESOLVED", {"effectId": ctx.e0, "status": "ok", "resultRef": "x"})
    ctx.dispatch()


def _resolved_unknown(ctx: Ctx) -> None:
    ctx.append("EFFECT_RESOLVED", {"effectId": "NOPE", "status": "ok"})
    ctx.dispatch()


def _dotdot_id(ctx: Ctx) -> None:
    ctx.request("..", None)
    ctx.dispatch()


def _slash_id(ctx: Ctx) -> None:
    ctx.request("../outside", None)
    ctx.dispatch()


def _absolute_ref(ctx: Ctx) -> None:
    ctx.request("E3", {"kind": "shell", "shell": {"command": "true"}}, taskDefRef="/etc/passwd")
    ctx.dispatch()


def _climbing_ref(ctx: Ctx) -> None:
    ref = "tasks/../../../outside/task.json"
    ctx.request("E3", {"kind": "shell", "shell": {"command": "true"}}, taskDefRef=ref)
    ctx.dispatch()


def _journal_is_a_file(ctx: Ctx) -> None:
    journal = ctx.path / "journal"
    for child in journal.iterdir():
        child.unlink()
    journal.rmdir()
    journal.write_text("")
    ctx.dispatch()


def _run_json_missing(ctx: Ctx) -> None:
    (ctx.path / "run.json").unlink()
    ctx.dispatch()


def _run_json_binary(ctx: Ctx) -> None:
    (ctx.path / "run.json").write_bytes(b"\x00\xff\xfe garbage")
    ctx.dispatch()


def _run_json_fifo(ctx: Ctx) -> None:
    ctx.fifo(ctx.path / "run.json")
    ctx.dispatch()


def _run_json_symlink(ctx: Ctx) -> None:
    ctx.link_out(ctx.path / "run.json", "run.json")
    ctx.dispatch()


def _task_bad_json(ctx: Ctx) -> None:
    ctx.task(0).write_text("{")
    ctx.dispatch()


def _task_missing(ctx: Ctx) -> None:
    ctx.task(0).unlink()
    ctx.dispatch()


def _task_array(ctx: Ctx) -> None:
    ctx.task(0).write_text("[1, 2]\n")
    ctx.dispatch()


def _task_symlink(ctx: Ctx) -> None:
    ctx.link_out(ctx.task(0), "task.json")
    ctx.dispatch()


def _task_dir_symlink(ctx: Ctx) -> None:
    ctx.link_out(ctx.task(0).parent, "taskdir")
    ctx.dispatch()


def _task_fifo(ctx: Ctx) -> None:
    ctx.fifo(ctx.task(0))
    ctx.dispatch()


def _task_huge(ctx: Ctx) -> None:
    ctx.rewrite_task(0, description="x" * (20 << 20))
    ctx.dispatch()


def _command_not_text(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": 42})
    ctx.dispatch()


def _args_not_text(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "echo", "args": ["a", {"b": 1}]})
    ctx.dispatch()


def _dispatch(ctx: Ctx) -> None:
    ctx.dispatch()


def _missing_cwd(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "true", "cwd": "no/such/dir"})
    ctx.dispatch()


def _state_dir_symlink(ctx: Ctx) -> None:
    ctx.link_out(ctx.path / PRIVATE, "state")
    ctx.dispatch()


def _outcomes_symlink(ctx: Ctx) -> None:
    (ctx.path / PRIVATE).mkdir()
    ctx.link_out(ctx.path / PRIVATE / "outcomes", "state")
    ctx.dispatch()


def _logs_symlink(ctx: Ctx) -> None:
    (ctx.path / PRIVATE / "logs").mkdir(parents=True)
    ctx.link_out(ctx.path / PRIVATE / "logs" / ctx.e0, "state")
    ctx.dispatch()


def _forged_outcome_symlink(ctx: Ctx) -> None:
    ctx.outcome(ctx.e0, "{}")
    ctx.link_out(ctx.path / PRIVATE / "outcomes" / f"{ctx.e0}.json", "outcome.json")
    ctx.dispatch()


def _garbage_claim(ctx: Ctx) -> None:
    claim = ctx.path / PRIVATE / "claims" / f"{ctx.e0}.json"
    claim.parent.mkdir(parents=True)
    claim.write_bytes(b"\x00\x01garbage")
    ctx.dispatch()


def _garbage_outcome(ctx: Ctx) -> None:
    ctx.outcome(ctx.e0, "\x00garbage")
    ctx.dispatch()


def _outcome_log_escapes(ctx: Ctx) -> None:
    forged = {
        "effectId": ctx.e0,
        "status": "ok",
        "hasValue": True,
        "value": "forged",
        "stdoutFile": "../../../../outside/secret.txt",
    }
    ctx.outcome(ctx.e0, to_file_text(forged))
    ctx.dispatch()


def _mutex_symlink(ctx: Ctx) -> None:
    claims = ctx.path / PRIVATE / "claims"
    claims.mkdir(parents=True)
    ctx.link_out(claims / ".mutex", "secret.txt")
    ctx.dispatch()


def _stdout_log_symlink(ctx: Ctx) -> None:
    ctx.link_out(ctx.task(0).parent / "stdout.log", "secret.txt")
    ctx.dispatch()


def _result_symlink(ctx: Ctx) -> None:
    ctx.link_out(ctx.task(0).parent / "result.json", "secret.txt")
    ctx.dispatch()


def _blobs_symlink(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "head -c 1200000 /dev/zero | tr '\\0' a"})
    ctx.link_out(ctx.task(0).parent / "blobs", "state")
    ctx.dispatch()


def _actions(text: str | bytes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = ctx.tmp / "actions.json"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        ctx.dispatch("--actions", str(path))

    return setup


def _actions_ref(ctx: Ctx) -> None:
    action = {
        "effectId": ctx.e0,
        "invocationKey": "k",
        "kind": "shell",
        "taskDefRef": "/etc/passwd",
        "schedulerHints": {"parallelGroupId": "g", "pendingCount": 1},
    }
    ctx.stdin = to_file_text({"nextActions": [action]})
    ctx.dispatch("--actions", "-")


def _payload(text: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.payload = text.replace("{e0}", ctx.e0)

    return setup


def _binary_output(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "printf 'a\\377\\376b\\000c'"})
    ctx.dispatch()


def _huge_output(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "head -c 11000000 /dev/zero"})
    ctx.dispatch()


def _endless_output(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "while :; do echo tick; sleep 0.01; done"})
    ctx.dispatch("--timeout", "0.4")


def _silent_hang(ctx: Ctx) -> None:
    ctx.rewrite_task(0, shell={"command": "exec >&- 2>&-; sleep 30"})
    ctx.dispatch("--timeout", "0.4")


def _harness(ctx: Ctx) -> None:
    ctx.dispatch("--harness", "claude-code")


def _agent(reply: str) -> dict[str, JsonValue]:
    """An agent task whose fake claude prints ``reply`` as it is."""
    return {"kind": "agent", "title": "agent", "agent": {"name": "x", "prompt": f"@raw {reply}"}}


#: A claude envelope whose result is JSON text holding a lone surrogate and a NUL.
SURROGATES = '{"type":"result","is_error":false,"result":"{\\"v\\": \\"\\\\ud800 \\\\u0000\\"}"}'


E = "babysit-plugin: error: "
REPAIR = "run `babysitter run:repair-journal {run}` (it drops unreadable events)"
SYMLINK = (
    "expected a plain file or directory inside the run, found a symlink at {at} — refusing "
    "to follow it; remove the symlink"
)
PLAIN = "expected a plain file, found {what} — "
ABSOLUTE = (
    "expected a path relative to the run directory, found '/etc/passwd' (absolute) — "
    "refusing to use it; fix or remove the entry that names it"
)
OK_BOTH = {0: ("ok", "one"), 1: ("ok", "two")}


def _sym(at: str) -> str:
    return SYMLINK.replace("{at}", at)


CASES = [
    # -- journal files -------------------------------------------------------------------
    Case(
        "journal: invalid JSON",
        _bad_json,
        1,
        (
            E + "journal/000004.{ANY}.json: expected a JSON event, found unparsable text "
            "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)) — "
            "the file is damaged; " + REPAIR,
        ),
        broken=True,
    ),
    Case(
        "journal: binary bytes",
        _binary_event,
        1,
        (
            E + "journal/000004.{ANY}.json: expected a JSON event, found unparsable text "
            "(Expecting value: line 1 column 1 (char 0)) — the file is damaged; " + REPAIR,
        ),
        broken=True,
    ),
    Case(
        "journal: 8 MiB event",
        _huge_event,
        1,
        (
            E + "journal/000004.{ANY}.json: expected a JSON event, found unparsable text "
            "(Expecting value: line 1 column 8388610 (char 8388609)) — the file is damaged; "
            + REPAIR,
        ),
        broken=True,
    ),
    Case(
        "journal: a FIFO",
        _fifo_event,
        1,
        (
            E
            + "{run}/journal/000004.{ANY}.json: "
            + PLAIN.replace("{what}", "a FIFO")
            + "refusing to read it (it may never end); replace it with the file itself",
        ),
        broken=True,
    ),
    Case(
        "journal: a symlink out of the run",
        _symlink_event,
        1,
        (
            E
            + "{run}/journal/000004.{ANY}.json: "
            + PLAIN.replace("{what}", "a symlink")
            + "refusing to follow it; replace it with the file itself",
        ),
        broken=True,
    ),
    Case(
        "journal: seq gap",
        _seq_gap,
        1,
        (
            E + "journal/000004.{ANY}.json: expected seq 3 after 2, found 4 — the journal has "
            "a gap; run `babysitter run:repair-journal {run}`",
        ),
        broken=True,
    ),
    Case(
        "journal: effect resolved twice",
        _double_resolved,
        1,
        (
            E + "journal/000005.{ANY}.json: expected one EFFECT_RESOLVED for effect {e0}, found "
            "a second (the first is journal/000004.{ANY}.json) — the SDK fails every replay of "
            "this run; move this file out of journal/ (the first result stands), then run "
            "`babysitter run:repair-journal {run}`",
        ),
        broken=True,
    ),
    Case(
        "journal: result for an unknown effect",
        _resolved_unknown,
        1,
        (
            E + "journal/000004.{ANY}.json: expected EFFECT_RESOLVED for a requested effect, "
            "found unknown effectId NOPE — the result belongs to no request; move the file out "
            "of journal/, then run `babysitter run:repair-journal {run}`",
        ),
        broken=True,
    ),
    Case(
        "journal: effect id '..'",
        _dotdot_id,
        1,
        (
            E + "{run}/tasks: expected an effect id usable as one directory name under tasks/, "
            "found '..' (a relative directory name) — use the effectId exactly as the journal "
            "has it",
        ),
        broken=True,
    ),
    Case(
        "journal: effect id with '/'",
        _slash_id,
        1,
        (
            E + "{run}/tasks: expected an effect id usable as one directory name under tasks/, "
            "found '../outside' (contains a path separator) — use the effectId exactly as the "
            "journal has it",
        ),
        broken=True,
    ),
    Case(
        "journal: absolute taskDefRef",
        _absolute_ref,
        1,
        (E + "E3: cannot read its task definition: E3 taskDefRef: " + ABSOLUTE,),
        results=OK_BOTH,
        broken=True,
    ),
    Case(
        "journal: taskDefRef climbing out",
        _climbing_ref,
        1,
        (
            E + "E3: cannot read its task definition: E3 taskDefRef: expected a path relative "
            "to the run directory, found 'tasks/../../../outside/task.json' (climbs out with "
            "'..') — refusing to use it; fix or remove the entry that names it",
        ),
        results=OK_BOTH,
        broken=True,
    ),
    Case(
        "journal: a file, not a directory",
        _journal_is_a_file,
        1,
        (
            E + "{run}/journal: expected the journal directory, found a file — restore "
            "journal/ from version control",
        ),
        broken=True,
    ),
    # -- run.json --------------------------------------------------------------------------
    Case(
        "run.json: missing",
        _run_json_missing,
        1,
        (
            E + "{run}/run.json: expected the run's metadata, found no such file — this is not "
            "a babysitter run directory; pass <repo>/.a5c/runs/<runId>",
        ),
        broken=True,
    ),
    Case(
        "run.json: binary bytes",
        _run_json_binary,
        1,
        (
            E + "{run}/run.json: expected JSON, found unreadable text (Expecting value: line 1 "
            "column 1 (char 0)) — restore run.json from version control or recreate the run",
        ),
        broken=True,
    ),
    Case(
        "run.json: a FIFO",
        _run_json_fifo,
        1,
        (
            E + "{run}/run.json: " + PLAIN.replace("{what}", "a FIFO") + "refusing to read it "
            "(it may never end); replace it with the file itself",
        ),
        broken=True,
    ),
    Case(
        "run.json: a symlink out of the run",
        _run_json_symlink,
        1,
        (
            E + "{run}/run.json: " + PLAIN.replace("{what}", "a symlink") + "refusing to "
            "follow it; replace it with the file itself",
        ),
        broken=True,
    ),
    # -- task.json ---------------------------------------------------------------------------
    Case(
        "task.json: invalid JSON",
        _task_bad_json,
        1,
        (
            E + "{task0}: expected a JSON task definition, found unreadable text (Expecting "
            "property name enclosed in double quotes: line 1 column 2 (char 1)) — restore it "
            "from version control",
        ),
        broken=True,
    ),
    Case(
        "task.json: missing",
        _task_missing,
        1,
        (
            E + "{task0}: expected the task definition of effect {e0}, found no such file — "
            "the SDK cannot iterate this run either; restore it from version control",
        ),
        broken=True,
    ),
    Case(
        "task.json: an array",
        _task_array,
        1,
        (
            E + "{task0}: expected a JSON object, found list @ $ — restore the task definition "
            "as the SDK wrote it",
        ),
        broken=True,
    ),
    Case(
        "task.json: a symlink out of the run",
        _task_symlink,
        1,
        (E + "{task0}: " + _sym("{task0}"),),
        broken=True,
    ),
    Case(
        "tasks/<id>: a symlink out of the run",
        _task_dir_symlink,
        1,
        (E + "{task0}: " + _sym("{run}/tasks/{e0}"),),
        broken=True,
    ),
    Case(
        "task.json: a FIFO",
        _task_fifo,
        1,
        (
            E + "{task0}: " + PLAIN.replace("{what}", "a FIFO") + "refusing to read it (it may "
            "never end); replace it with the file itself",
        ),
        broken=True,
    ),
    Case("task.json: 20 MiB", _task_huge, 0, results=OK_BOTH),
    Case(
        "task.json: command not a string",
        _command_not_text,
        0,
        results={
            0: (
                "error",
                "{task0}: expected shell.command to be a non-empty string, found int 42 — fix "
                "the task definition in the process",
            ),
            1: ("ok", "two"),
        },
    ),
    Case(
        "task.json: args not strings",
        _args_not_text,
        0,
        results={
            0: (
                "error",
                "{task0}: expected shell.args to be a list of strings, found other values — "
                "fix the task definition in the process",
            ),
            1: ("ok", "two"),
        },
    ),
    Case(
        "task.json: unknown kind",
        _dispatch,
        0,
        results={1: ("ok", "two")},
        first={"kind": "teleport", "title": "t"},
    ),
    Case(
        "task.json: missing working directory",
        _missing_cwd,
        0,
        results={
            0: (
                "error",
                "Shell command could not start: working directory {repo}/no/such/dir: No such "
                "file or directory",
            ),
            1: ("ok", "two"),
        },
    ),
    # -- the plugin's own state ------------------------------------------------------------------
    Case(
        ".babysit-plugin: a symlink out of the run",
        _state_dir_symlink,
        1,
        (E + "{run}/.babysit-plugin: " + _sym("{run}/.babysit-plugin"),),
    ),
    Case(
        ".babysit-plugin/outcomes: a symlink",
        _outcomes_symlink,
        1,
        (E + "{run}/.babysit-plugin/outcomes: " + _sym("{run}/.babysit-plugin/outcomes"),),
    ),
    Case(
        ".babysit-plugin/logs/<id>: a symlink",
        _logs_symlink,
        1,
        (E + "{run}/.babysit-plugin/logs/{e0}: " + _sym("{run}/.babysit-plugin/logs/{e0}"),),
        change="skeleton",
    ),
    Case(
        ".babysit-plugin/outcomes/<id>.json: a symlink",
        _forged_outcome_symlink,
        1,
        (
            E
            + "{run}/.babysit-plugin/outcomes/{e0}.json: "
            + _sym("{run}/.babysit-plugin/outcomes/{e0}.json"),
        ),
        change="skeleton",
    ),
    Case(
        ".babysit-plugin/claims/.mutex: a symlink",
        _mutex_symlink,
        1,
        (
            E
            + "{run}/.babysit-plugin/claims/.mutex: "
            + _sym("{run}/.babysit-plugin/claims/.mutex"),
        ),
        change="skeleton",
    ),
    Case("claim file of binary bytes", _garbage_claim, 0, results=OK_BOTH),
    Case("saved outcome of binary bytes", _garbage_outcome, 0, results=OK_BOTH),
    Case(
        "saved outcome naming a log outside",
        _outcome_log_escapes,
        0,
        results={0: ("ok", "forged"), 1: ("ok", "two")},
    ),
    # -- planted in tasks/ ------------------------------------------------------------------
    Case(
        "tasks/<id>/stdout.log: a symlink out",
        _stdout_log_symlink,
        1,
        (
            E
            + "{e0}: post failed: tasks/{e0}/stdout.log: "
            + _sym("{run}/tasks/{e0}/stdout.log")
            + " — the outcome is saved in {run}/.babysit-plugin/outcomes/{e0}.json and the next "
            "dispatch posts it",
        ),
        results={1: ("ok", "two")},
        broken=True,
    ),
    Case(
        "tasks/<id>/result.json: a symlink out",
        _result_symlink,
        0,
        results=OK_BOTH,
        may_change=("tasks/{e0}/result.json",),
    ),
    Case(
        "tasks/<id>/blobs: a symlink out",
        _blobs_symlink,
        1,
        (
            E
            + "{e0}: post failed: tasks/{e0}/blobs/result-{ANY}.json: "
            + _sym("{run}/tasks/{e0}/blobs")
            + " — the outcome is saved in {run}/.babysit-plugin/outcomes/{e0}.json and the next "
            "dispatch posts it",
        ),
        results={1: ("ok", "two")},
        broken=True,
    ),
    # -- --actions ------------------------------------------------------------------------
    Case(
        "--actions: invalid JSON",
        _actions("{nope"),
        1,
        (
            E + "{tmp}/actions.json: expected JSON (a `run:iterate --json` output, a hook "
            "payload or a list of actions), found invalid JSON (Expecting property name "
            "enclosed in double quotes: line 1 column 2 (char 1)) — pass the file unchanged",
        ),
    ),
    Case(
        "--actions: binary bytes",
        _actions(bytes(range(256))),
        1,
        (
            E + "{tmp}/actions.json: expected a readable JSON file of actions, found 'utf-8' "
            "codec can't decode byte 0x80 in position 128: invalid start byte — pass the output "
            "of `babysitter run:iterate --json` or a hook payload",
        ),
    ),
    Case(
        "--actions: an unrelated object",
        _actions('{"hello": 1}'),
        1,
        (
            E + "{tmp}/actions.json: expected the output of `babysitter run:iterate --json` "
            "(nextActions), an on-iteration-start payload (pending) or a list of actions, "
            "found an object with keys hello — pass that JSON unchanged",
        ),
    ),
    Case(
        "--actions: nextActions not a list",
        _actions('{"nextActions": 5}'),
        1,
        (
            E + "{tmp}/actions.json: expected an array at $.nextActions, found int — pass the "
            "JSON unchanged",
        ),
    ),
    Case(
        "--actions: effect id '../x'",
        _actions('{"nextActions": [{"effectId": "../x", "invocationKey": "k"}]}'),
        1,
        (
            E + "{tmp}/actions.json $.nextActions[0].effectId: expected an effect id usable as "
            "one directory name under tasks/, found '../x' (contains a path separator) — use "
            "the effectId exactly as the journal has it",
        ),
    ),
    Case(
        "--actions: absolute taskDefRef",
        _actions_ref,
        1,
        (E + "{e0}: cannot read its task definition: {e0} taskDefRef: " + ABSOLUTE,),
        change="skeleton",
    ),
    # -- hook payloads ----------------------------------------------------------------------
    Case(
        "hook: payload not JSON",
        _payload("{nope"),
        1,
        (
            "error: <stdin>: expected the on-iteration-start payload as JSON, found text that "
            "is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
            "(char 1)) — the hook dispatcher passes it on stdin unchanged",
        ),
    ),
    Case(
        "hook: payload an array",
        _payload("[1]"),
        1,
        (
            "error: <stdin>: expected a JSON object (the on-iteration-start payload), found "
            "list — the hook dispatcher passes it on stdin unchanged",
        ),
    ),
    Case(
        "hook: runId climbing out",
        _payload(
            '{"runId": "../x", "status": "waiting", "pending": [{"effectId": "{e0}", '
            '"invocationKey": "k", "schedulerHints": {"parallelGroupId": "g"}}]}'
        ),
        1,
        (
            'error: <stdin>: expected $.runId to be a run id (one path component), found "../x" '
            "— the hook dispatcher passes the payload unchanged",
        ),
    ),
    Case(
        "hook: effect id with '/'",
        _payload(
            '{"runId": "run-1", "status": "waiting", "pending": [{"effectId": "a/b", '
            '"invocationKey": "k"}]}'
        ),
        1,
        (
            "error: <stdin> $.pending[0].effectId: expected an effect id usable as one "
            "directory name under tasks/, found 'a/b' (contains a path separator) — use the "
            "effectId exactly as the journal has it",
        ),
    ),
    # -- children's output ------------------------------------------------------------------
    Case(
        "output: binary bytes",
        _binary_output,
        0,
        results={0: ("ok", "a\ufffd\ufffdb\x00c"), 1: ("ok", "two")},
    ),
    Case(
        "output: 11 MB",
        _huge_output,
        0,
        results={
            0: (
                "error",
                "Shell command stdout is 11000000 bytes, over the 10485760 byte limit for a "
                "result value; the full output is kept in stdout.log",
            ),
            1: ("ok", "two"),
        },
    ),
    Case(
        "output: never ends",
        _endless_output,
        0,
        results={
            0: (
                "error",
                "Shell command timed out after 0.4 s (the limit of --timeout; its process group "
                "was killed)",
            ),
            1: ("ok", "two"),
        },
    ),
    Case(
        "output: closed, child hangs",
        _silent_hang,
        0,
        results={
            0: (
                "error",
                "Shell command timed out after 0.4 s (the limit of --timeout; its process group "
                "was killed)",
            ),
            1: ("ok", "two"),
        },
    ),
    Case(
        "harness: envelope of binary garbage",
        _harness,
        0,
        results={0: ("ok", "\x01\x02 not json"), 1: ("ok", "two")},
        first=_agent("\x01\x02 not json"),
    ),
    Case(
        "harness: lone surrogate and NUL",
        _harness,
        0,
        # Kept as JSON.stringify keeps it: the lone surrogate escaped (\ud800), the NUL too.
        results={0: ("ok", {"v": "\ud800 \x00"}), 1: ("ok", "two")},
        first=_agent(SURROGATES),
    ),
]


def _fill(template: str, ctx: Ctx) -> str:
    """A regular expression: the template's text exact, its fields filled, {ANY} anything."""
    fields = {
        "run": str(ctx.path),
        "repo": str(ctx.run.repo),
        "e0": ctx.e0,
        "e1": ctx.e1,
        "tmp": str(ctx.tmp),
        "outside": str(ctx.outside),
        "task0": str(ctx.task(0)),
    }
    out = []
    for piece in re.split(r"(\{[a-z0-9A-Z]+\})", template):
        name = piece[1:-1]
        if piece.startswith("{") and name == "ANY":
            out.append(".*")
        elif piece.startswith("{") and name in fields:
            out.append(re.escape(fields[name]))
        else:
            out.append(re.escape(piece))
    return "".join(out)


def _outside(tmp: Path) -> Path:
    out = tmp / "outside"
    (out / "state").mkdir(parents=True)
    (out / "taskdir").mkdir()
    (out / "secret.txt").write_text(SECRET)
    forged_task = {"kind": "shell", "title": "t", "shell": {"command": f"echo {SECRET}"}}
    (out / "task.json").write_text(to_file_text(forged_task))
    (out / "taskdir" / "task.json").write_text(to_file_text(forged_task))
    (out / "event.json").write_text("{}")
    (out / "outcome.json").write_text(
        to_file_text({"effectId": "x", "status": "ok", "hasValue": True, "value": SECRET})
    )
    (out / "run.json").write_text(to_file_text({"runId": "run-1", "processId": SECRET}))
    return out


def observe(
    ctx: Ctx, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[str]]:
    """Run the case's command in-process: exit code and stderr lines (hook: its messages)."""
    if ctx.payload is not None:
        options = hook.HookOptions(run_dir=ctx.path, budget=20.0, kinds=frozenset({"shell"}))
        try:
            outcome = hook.run_hook(ctx.payload, "<stdin>", options)
        except ProtocolError as exc:
            outcome = hook.hook_error(exc)
        return outcome.exit_code, list(outcome.messages)
    monkeypatch.setattr("sys.stdin", io.StringIO(ctx.stdin or ""))
    code = main(ctx.argv)
    return code, capsys.readouterr().err.splitlines()


_APPENDED = re.compile(
    r"added (journal/\d{6}\.[0-9A-Z]{26}\.json"
    r"|tasks/[^/]+/(result\.json|stdout\.log|stderr\.log))"
)
_SKELETON = re.compile(
    r"added \.babysit-plugin"
    r"(/\.gitignore|/claims|/claims/\.mutex|/outcomes|/logs|/run\.lock\.guard)?"
)


def _result_of(ctx: Ctx, index: int) -> tuple[str, Any] | None:
    path = ctx.path / "tasks" / ctx.run.effect_ids[index] / "result.json"
    if path.is_symlink() or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data["status"] == "ok":
        return "ok", data["value"]
    return "error", data["error"]["message"]


def test_corpus_is_large_enough() -> None:
    """The corpus holds at least 30 malformed inputs, each named once."""
    names = [c.name for c in CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_is_refused_or_an_error_result(
    tmp_path: Path,
    case: Case,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    verified_runs: Baselines,
) -> None:
    """One clear error or error result; run unchanged or validly appended; outside untouched."""
    install_fakes(tmp_path, monkeypatch)
    tasks = [case.first or shell("printf one"), shell("printf two")]
    ctx = Ctx(tmp=tmp_path, run=make_run(tmp_path, tasks), outside=_outside(tmp_path))
    case.setup(ctx)
    if case.broken:
        assert verified_runs.record(ctx.path) != []
    before, outside_before = snapshot(ctx.path), snapshot(ctx.outside)

    code, lines = observe(ctx, capsys, monkeypatch)

    assert code == case.code, lines
    expected = [_fill(t, ctx) for t in (case.stderr or ())]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), line
    for index in range(2):
        want = case.results.get(index)
        got = _result_of(ctx, index)
        if want is None:
            assert got is None
        elif isinstance(want[1], str):
            assert got is not None
            assert got[0] == want[0]
            assert re.fullmatch(_fill(want[1], ctx), got[1], re.DOTALL), got[1]
        else:
            assert got == want
    after = snapshot(ctx.path)
    diff = snapshot_diff(before, after)
    may = {f"changed {_fill_plain(p, ctx)}" for p in case.may_change}
    private = [d for d in diff if d.split(" ", 1)[1].startswith(PRIVATE)]
    public = [d for d in diff if d not in private and d not in may]
    if not case.results:
        assert public == []
    assert all(_APPENDED.fullmatch(d) for d in public), public
    if case.change == "skeleton":
        assert all(_SKELETON.fullmatch(d) for d in private), private
    elif not case.results and case.code != 0:
        assert private == []
    claims = r"added \.babysit-plugin/claims/\w+\.json"
    assert [d for d in private if re.fullmatch(claims, d)] == []
    assert snapshot_diff(outside_before, snapshot(ctx.outside)) == []
    assert all(
        SECRET.encode() not in entry[2] for entry in after.values() if isinstance(entry[2], bytes)
    )


def _fill_plain(template: str, ctx: Ctx) -> str:
    return template.replace("{e0}", ctx.e0).replace("{e1}", ctx.e1)
