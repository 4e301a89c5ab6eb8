"""Harness adapters: how each agent CLI is asked to perform one prompt, headless.

An adapter turns a :class:`HarnessRequest` into an :class:`Invocation` (argv,
stdin, working directory) and turns the CLI's output back into answer text
(:meth:`Adapter.unwrap`), undoing the CLI's JSON envelope where it has one.

Built-in adapters (flags pinned by tests against the recorded ``--help`` of
the CLI version in ``checked_against``, ``tests/fixtures/cli-help/``; the
workspace is the repository root that holds ``.a5c/``):

==============  =================================================================
claude-code     ``claude -p --output-format json --dangerously-skip-permissions``,
                prompt on stdin; envelope ``{"type": "result", "is_error",
                "result"}`` (a list of messages with ``--verbose``: its last
                ``result`` item).  As root it needs ``IS_SANDBOX=1`` (refused
                with that advice otherwise)
codex           ``codex exec --dangerously-bypass-approvals-and-sandbox
                --skip-git-repo-check -C WS --output-last-message FILE -``, prompt on
                stdin; answer: FILE, else stdout
pi              ``pi -p``, prompt on stdin
gemini-cli      ``gemini --output-format json --yolo --skip-trust``, prompt on
                stdin; envelope ``{"response", "error"?}``
opencode        ``opencode run --auto``, prompt on stdin
cursor          ``agent -p --output-format json -f --trust --approve-mcps
                --workspace WS PROMPT`` (``cursor-agent`` when only the old name
                is installed); envelope as claude-code
github-copilot  ``copilot -p PROMPT -s --allow-all-tools``
sdk[:NAME]      refused: SDK 0.0.187's ``harness:invoke`` cannot drive the CLIs
==============  =================================================================

Cursor and Copilot take the prompt only as an argument; one over
:data:`ARGV_PROMPT_LIMIT` bytes is replaced there by an order to read the
prompt file (Linux refuses one argument over 128 KiB).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from protocol import jsonjs

#: Harness names accepted by ``--harness`` (plus ``sdk:NAME``).
HARNESS_NAMES = (
    "claude-code",
    "codex",
    "pi",
    "gemini-cli",
    "opencode",
    "cursor",
    "github-copilot",
    "sdk",
)
DEFAULT_HARNESS = "claude-code"

#: Other spellings of the built-in names, as users and task definitions write them.
ALIASES = {
    "claude": "claude-code",
    "claude_code": "claude-code",
    "gemini": "gemini-cli",
    "copilot": "github-copilot",
    "cursor-agent": "cursor",
}

PLACEHOLDERS = ("prompt_file", "task_file", "effect_id", "run_dir", "workspace")


@attrs.frozen
class HarnessRequest:
    """Everything an adapter may put on a command line."""

    prompt: str
    prompt_file: Path
    task_file: Path
    effect_id: str
    run_dir: Path
    workspace: Path
    work_dir: Path
    model: str | None = None


@attrs.frozen
class Invocation:
    """One harness call: run ``argv`` in ``cwd`` with ``stdin``."""

    argv: tuple[str, ...]
    cwd: Path
    stdin: bytes | None = None
    answer_file: Path | None = None

    def display(self) -> str:
        """The command as a shell would need it typed (prompt abbreviated)."""
        shown = []
        for arg in self.argv:
            if len(arg) > 120 or "\n" in arg:
                shown.append(shlex.quote(f"<prompt: {len(arg.encode('utf-8'))} bytes>"))
            else:
                shown.append(shlex.quote(arg))
        text = " ".join(shown)
        if self.stdin is not None:
            text += f" < <prompt: {len(self.stdin)} bytes>"
        return text


@attrs.frozen
class Answer:
    """A harness's answer: ``text`` on success, ``error`` when it reported failure."""

    text: str
    error: str | None = None


class HarnessNotFound(Exception):
    """The harness executable is not installed (or not on PATH)."""

    def __init__(self, harness: str, executable: str, install: str) -> None:
        self.harness = harness
        self.executable = executable
        self.install = install
        super().__init__(
            f"{harness} harness: executable `{executable}` not found on PATH — {install}, "
            "or choose another harness with --harness NAME (one of "
            f"{', '.join(HARNESS_NAMES)}) or --harness-command 'CMD {{prompt_file}}'"
        )


class UnknownHarness(ValueError):
    """A harness name that no adapter answers to."""


class HarnessRefused(Exception):
    """The harness cannot run here as things are; the message says how to proceed."""


#: Largest prompt (bytes) passed as one argv string; Linux refuses a single
#: argument over 128 KiB (MAX_ARG_STRLEN) with E2BIG, so longer prompts of CLIs
#: that cannot read stdin go in the prompt file, which the argv points to.
ARGV_PROMPT_LIMIT = 100 * 1024


def argv_prompt(request: HarnessRequest) -> str:
    """The prompt as an argv string, or for a long one an order to read the prompt file."""
    if len(request.prompt.encode("utf-8")) <= ARGV_PROMPT_LIMIT:
        return request.prompt
    return (
        f"Read the file {request.prompt_file} and perform the task it describes in full, "
        "following every instruction in it, including the form of the answer."
    )


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1


def _which(name: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(name, path=env.get("PATH", os.defpath))


class Adapter:
    """Base adapter: subclasses set the executable and build the argv."""

    name: str = ""
    executable: str = ""
    install: str = ""
    stdin_prompt: bool = False
    #: The CLI version whose recorded ``--help`` (tests/fixtures/cli-help/) pins these flags.
    checked_against: str = ""

    def preflight(self, env: Mapping[str, str]) -> str | None:
        """Why this harness cannot run with ``env`` (and how to proceed), or None."""
        return None

    def locate(self, env: Mapping[str, str], workspace: Path) -> str:
        """The path of the executable, or raise :class:`HarnessNotFound`."""
        found = _which(self.executable, env)
        if found is None:
            raise HarnessNotFound(self.name, self.executable, self.install)
        return found

    def args(self, request: HarnessRequest) -> list[str]:
        raise NotImplementedError

    def invocation(self, request: HarnessRequest, env: Mapping[str, str]) -> Invocation:
        """The call to make, or raise :class:`HarnessRefused` / :class:`HarnessNotFound`."""
        refusal = self.preflight(env)
        if refusal is not None:
            raise HarnessRefused(refusal)
        exe = self.locate(env, request.workspace)
        return Invocation(
            argv=(exe, *self.args(request)),
            cwd=request.workspace,
            stdin=request.prompt.encode("utf-8") if self.stdin_prompt else None,
            answer_file=self.answer_file(request),
        )

    def answer_file(self, request: HarnessRequest) -> Path | None:
        return None

    def unwrap(self, stdout: str, answer_file_text: str | None) -> Answer:
        """The answer text inside the CLI's output."""
        return Answer(stdout)

    @staticmethod
    def _model(request: HarnessRequest) -> list[str]:
        return ["--model", request.model] if request.model else []


def _parse_json(text: str) -> Any:
    try:
        return jsonjs.loads(text.strip())
    except ValueError:
        return None


def _result_envelope(stdout: str) -> Answer:
    """Claude Code / Cursor ``--output-format json``: ``{"type": "result", ...}``."""
    data = _parse_json(stdout)
    if isinstance(data, list):
        results = [m for m in data if isinstance(m, dict) and m.get("type") == "result"]
        data = results[-1] if results else None
    if not isinstance(data, dict) or ("result" not in data and "is_error" not in data):
        return Answer(stdout)
    result = data.get("result")
    text = result if isinstance(result, str) else ("" if result is None else jsonjs.dumps(result))
    if data.get("is_error") is True or data.get("subtype") not in (None, "success"):
        detail = text or str(data.get("subtype") or "error")
        return Answer(text, error=f"reported an error: {detail}")
    return Answer(text)


class ClaudeCode(Adapter):
    name = "claude-code"
    executable = "claude"
    install = "install it with `npm install -g @anthropic-ai/claude-code`"
    checked_against = "claude-code 2.1.197"
    stdin_prompt = True

    def preflight(self, env: Mapping[str, str]) -> str | None:
        # claude refuses --dangerously-skip-permissions when uid 0, unless
        # IS_SANDBOX=1 or CLAUDE_CODE_BUBBLEWRAP is set (its own check).
        if _euid() != 0 or env.get("IS_SANDBOX") == "1" or env.get("CLAUDE_CODE_BUBBLEWRAP"):
            return None
        return (
            "claude-code harness: claude refuses --dangerously-skip-permissions as root — in a "
            "container or sandbox set IS_SANDBOX=1 in the environment of babysit-plugin, or run "
            "it as a non-root user"
        )

    def args(self, request: HarnessRequest) -> list[str]:
        return [
            "-p",
            "--output-format",
            "json",
            "--dangerously-skip-permissions",
            *self._model(request),
        ]

    def unwrap(self, stdout: str, answer_file_text: str | None) -> Answer:
        return _result_envelope(stdout)


class Codex(Adapter):
    name = "codex"
    executable = "codex"
    install = "install it with `npm install -g @openai/codex`"
    checked_against = "codex 0.171.0"
    stdin_prompt = True

    def answer_file(self, request: HarnessRequest) -> Path | None:
        return request.work_dir / "last-message.txt"

    def args(self, request: HarnessRequest) -> list[str]:
        answer = self.answer_file(request)
        assert answer is not None
        return [
            "exec",
            "--dangerously-bypass-approvals-and-sandbox",
            "--skip-git-repo-check",
            "-C",
            str(request.workspace),
            "--output-last-message",
            str(answer),
            *self._model(request),
            "-",
        ]

    def unwrap(self, stdout: str, answer_file_text: str | None) -> Answer:
        if answer_file_text is not None and answer_file_text.strip():
            return Answer(answer_file_text)
        return Answer(stdout)


class Pi(Adapter):
    name = "pi"
    executable = "pi"
    install = "install it with `npm install -g @mariozechner/pi-coding-agent`"
    checked_against = "pi 0.73.1"
    # pi reads piped stdin as the message and switches to print mode.
    stdin_prompt = True

    def args(self, request: HarnessRequest) -> list[str]:
        return ["-p", *self._model(request)]


class GeminiCli(Adapter):
    name = "gemini-cli"
    executable = "gemini"
    install = "install it with `npm install -g @google/gemini-cli`"
    checked_against = "gemini-cli 0.61.0"
    # Without -p, piped stdin is the prompt and the run is headless.  Without
    # --skip-trust an untrusted folder downgrades --yolo (and, logged in, exits 55).
    stdin_prompt = True

    def args(self, request: HarnessRequest) -> list[str]:
        return ["--output-format", "json", "--yolo", "--skip-trust", *self._model(request)]

    def unwrap(self, stdout: str, answer_file_text: str | None) -> Answer:
        data = _parse_json(stdout)
        if not isinstance(data, dict) or not ("response" in data or "error" in data):
            return Answer(stdout)
        error = data.get("error")
        response = data.get("response")
        text = response if isinstance(response, str) else ""
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            return Answer(text, error=f"reported an error: {js_text(message)}")
        return Answer(text)


class OpenCode(Adapter):
    name = "opencode"
    executable = "opencode"
    install = "install it with `npm install -g opencode-ai`"
    checked_against = "opencode 1.18.33"
    # `run` appends piped stdin to the message; --auto approves permission
    # prompts (without it every one is rejected headless).
    stdin_prompt = True

    def args(self, request: HarnessRequest) -> list[str]:
        return ["run", "--auto", *self._model(request)]


class Cursor(Adapter):
    name = "cursor"
    executable = "agent"
    install = "install the Cursor CLI (`agent`, from https://cursor.com/cli)"
    checked_against = "cursor-docs 2026-12"

    def locate(self, env: Mapping[str, str], workspace: Path) -> str:
        # The CLI is `agent` now; `cursor-agent` is the name older installs have.
        for name in ("agent", "cursor-agent"):
            found = _which(name, env)
            if found is not None:
                return found
        raise HarnessNotFound(self.name, "agent", self.install)

    def args(self, request: HarnessRequest) -> list[str]:
        return [
            "-p",
            "--output-format",
            "json",
            "-f",
            "--trust",
            "--approve-mcps",
            "--workspace",
            str(request.workspace),
            *self._model(request),
            argv_prompt(request),
        ]

    def unwrap(self, stdout: str, answer_file_text: str | None) -> Answer:
        return _result_envelope(stdout)


class GithubCopilot(Adapter):
    name = "github-copilot"
    executable = "copilot"
    install = "install it with `npm install -g @github/copilot`"
    checked_against = "github-copilot 1.0.102"

    def args(self, request: HarnessRequest) -> list[str]:
        # -s: only the agent's response on stdout (no stats, no tool lines).
        return ["-p", argv_prompt(request), "-s", "--allow-all-tools", *self._model(request)]


#: Why ``--harness sdk`` is refused (the SDK line in use cannot drive a CLI headless).
SDK_REFUSAL = (
    "the sdk harness (`babysitter harness:invoke`) cannot work with SDK 0.0.187: its invoker "
    "passes flags the agent CLIs reject and leaves their stdin open, so they wait forever — "
    "use --harness NAME (the same CLI, driven directly) instead"
)


class SdkInvoke(Adapter):
    """``sdk[:NAME]``: refused, with the reason (see :data:`SDK_REFUSAL`)."""

    executable = "babysitter"
    install = "install it with `npm install -g @a5c-ai/babysitter-sdk`"

    def __init__(self, inner: str = DEFAULT_HARNESS) -> None:
        self.inner = inner
        self.name = "sdk" if inner == DEFAULT_HARNESS else f"sdk:{inner}"

    def preflight(self, env: Mapping[str, str]) -> str | None:
        advice = SDK_REFUSAL.replace("--harness NAME", f"--harness {self.inner}")
        return f"{self.name} harness: {advice}"


def js_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else jsonjs.dumps(value, indent=None)


class CustomCommand(Adapter):
    """``--harness-command``: any command line, placeholders substituted."""

    name = "custom"
    stdin_prompt = True

    def __init__(self, command: str) -> None:
        try:
            self.template = shlex.split(command)
        except ValueError as exc:
            raise UnknownHarness(
                f"--harness-command: expected a command line, found {command!r} ({exc})"
            ) from exc
        if not self.template:
            raise UnknownHarness("--harness-command: expected a command line, found nothing")
        self.executable = self.template[0]
        self.install = f"install `{self.executable}` or fix --harness-command"

    def substitute(self, request: HarnessRequest) -> list[str]:
        values = {
            "prompt_file": str(request.prompt_file),
            "task_file": str(request.task_file),
            "effect_id": request.effect_id,
            "run_dir": str(request.run_dir),
            "workspace": str(request.workspace),
        }
        out = []
        for token in self.template:
            text = token
            for key, value in values.items():
                text = text.replace("{" + key + "}", value)
            out.append(text)
        return out

    def invocation(self, request: HarnessRequest, env: Mapping[str, str]) -> Invocation:
        argv = self.substitute(request)
        exe = argv[0]
        if os.sep not in exe:
            found = _which(exe, env)
            if found is None:
                raise HarnessNotFound("custom", exe, self.install)
            argv[0] = found
        return Invocation(
            argv=tuple(argv),
            cwd=request.workspace,
            stdin=request.prompt.encode("utf-8"),
        )


_BUILTIN: dict[str, type[Adapter]] = {
    "claude-code": ClaudeCode,
    "codex": Codex,
    "pi": Pi,
    "gemini-cli": GeminiCli,
    "opencode": OpenCode,
    "cursor": Cursor,
    "github-copilot": GithubCopilot,
}


def normalize_harness(name: str) -> str:
    """The canonical harness name (``claude`` → ``claude-code``)."""
    return ALIASES.get(name.strip(), name.strip())


def get_adapter(name: str) -> Adapter:
    """The adapter for a harness name, or raise :class:`UnknownHarness`."""
    canonical = normalize_harness(name)
    if canonical == "sdk":
        return SdkInvoke()
    if canonical.startswith("sdk:"):
        inner = normalize_harness(canonical[4:])
        if not inner:
            raise UnknownHarness(f"harness {name!r}: expected sdk:NAME, found no NAME")
        return SdkInvoke(inner)
    cls = _BUILTIN.get(canonical)
    if cls is None:
        raise UnknownHarness(
            f"harness {name!r}: expected one of {', '.join(HARNESS_NAMES)} or sdk:NAME "
            "— pass --harness NAME or --harness-command 'CMD {prompt_file}'"
        )
    return cls()


def task_harness(task: Mapping[str, Any]) -> str | None:
    """The harness a task definition asks for (``execution.harness``, ``metadata.harness``)."""
    for section in ("execution", "metadata"):
        block = task.get(section)
        if isinstance(block, Mapping):
            value = block.get("harness")
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def task_model(task: Mapping[str, Any]) -> str | None:
    """The model a task definition asks for (``execution.model``)."""
    block = task.get("execution")
    if isinstance(block, Mapping):
        value = block.get("model")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@attrs.frozen
class HarnessChoice:
    """The harness picked for an effect and which rule picked it."""

    name: str
    source: str


def choose_harness(
    cli_harness: str | None,
    task: Mapping[str, Any],
    run_harness: str | None,
    env: Mapping[str, str],
) -> HarnessChoice:
    """``--harness``, else the task's, else run.json's, else $BABYSITTER_HARNESS, else claude-code.

    A task or run.json naming a harness without a CLI adapter here (the SDK's
    programmatic ``internal`` harness, say) does not apply; the next rule does.
    """
    candidates: Sequence[tuple[str | None, str, bool]] = (
        (cli_harness, "--harness", True),
        (task_harness(task), "task definition", False),
        (run_harness, "run.json harness", False),
        (env.get("BABYSITTER_HARNESS"), "BABYSITTER_HARNESS", True),
    )
    for value, source, strict in candidates:
        if value is None or not value.strip():
            continue
        name = normalize_harness(value)
        if strict or is_known_harness(name):
            return HarnessChoice(name, source)
    return HarnessChoice(DEFAULT_HARNESS, "default")


def is_known_harness(name: str) -> bool:
    """True when :func:`get_adapter` has an adapter for ``name``."""
    try:
        get_adapter(name)
    except UnknownHarness:
        return False
    return True
