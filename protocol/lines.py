"""The SDK lines the plugin knows, one table each, and how a run's line is told.

Rules kept here (each line's facts read off that line's ``dist/``):

- A line is one :class:`SdkLine`: what its ``task:post`` writes (``sdkVersion`` in events,
  ``result.json``, ``task.json``, ``run.json``, ``state/state.json``; where ``data.harness``
  goes; whether ``data.sessionId`` is added; whether the state cache is rebuilt after a post),
  which event types its replay knows, whether its step ids are derived per branch or taken
  from one counter, and where its runs live by default. It is chosen once, when the run is
  opened (:func:`protocol.journal.open_run` puts it on :class:`~protocol.models.Run`), and
  the reader and writer consult the table instead of branching on version strings.
- **Supported** means: the release's on-disk protocol was read in its ``dist/`` and its
  ``task:post``/``run:iterate`` are reproduced by the tests. That is ``0.0.162`` to
  ``0.0.187`` (:data:`LINE_0_0`; their ``task:post`` bytes are the same, 0.0.162-0.0.174 keep
  the task definition out of ``task.json``) and ``6.0.0`` to ``6.0.3`` (:data:`LINE_6_0`).
  Any other version (``5.x``, ``6.1.0``, ``7.1.0``, ``0.0.150``) is refused. 6.0.0 to 6.0.3
  write the same bytes: upstream's sources from the first 6.0.0 tag (``0c70bfb``, 2026-06-30)
  to 6.0.3 (``21ded0e``) change none of ``storage/``, ``tasks/``, ``runtime/replay/``,
  ``runtime/intrinsics/``, ``session/discovery``, ``cli/main/taskCommands`` or
  ``runIterate``; ``commitEffectResult`` only gains the signed-breakpoint gate (a refusal,
  :attr:`SdkLine.signed_breakpoints`), which the plugin never bypasses: it refuses to post a
  breakpoint answer while ``POLICY_CONFIG_ROOT_FP`` pins a trust anchor.
- Detection (:func:`detect_line`) before anything is read or written: a run that carries
  ``sdkVersion`` in ``run.json`` (every 6.x ``run:create`` writes it) belongs to that
  version's line. A run without it is a 0.0.x run (0.0.x writes no marker anywhere); its
  exact release is the project's installed SDK (``node_modules/@a5c-ai/babysitter-sdk/
  package.json`` found from the run directory upward) when that is a 0.0.x release, else
  unknown within 0.0.x. An installed 0.0.x release outside the supported range is refused.
- Mixing (checked by the journal reader, :func:`check_event_version`): on a 6.x run every
  event carries a top-level ``sdkVersion`` of the same line; on a 0.0.x run none does. A file
  that breaks this was written by another line's writer and is refused with one line.
- The ``sdkVersion`` a 6.x post writes (:func:`writer_version`) is that of the SDK the user
  runs: the installed SDK when it is of the run's line, else the last ``sdkVersion`` in the
  journal, else ``run.json``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from attrs import frozen

from protocol.errors import UnsupportedSdkError
from protocol.jsonjs import JsonParseError, JsonValue, loads

__all__ = [
    "LINES",
    "LINE_0_0",
    "LINE_6_0",
    "SUPPORTED",
    "SdkLine",
    "check_event_version",
    "detect_line",
    "installed_sdk_version",
    "line_of_version",
    "writer_version",
]

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


@frozen(kw_only=True)
class SdkLine:
    """What one SDK line writes and reads (see the module docstring)."""

    #: ``"0.0"`` or ``"6.0"``.
    name: str
    #: The lowest and highest supported patch release, as ``(major, minor, patch)``.
    lowest: tuple[int, int, int]
    highest: tuple[int, int, int]
    #: Journal events, ``result.json``, ``task.json``, ``run.json`` and ``state.json`` end
    #: with ``sdkVersion`` (the event's sits between ``data`` and ``checksum`` and the
    #: checksum covers it).
    writes_sdk_version: bool
    #: ``data.harness`` is the first key of an event's data (0.0.x: ``{harness, ...data}``)
    #: or follows the event's own fields (6.x: ``eventData.harness = ...``).
    harness_first: bool
    #: ``appendEvent`` adds ``data.sessionId`` resolved from the environment
    #: (``resolveAmbientSessionId``) after ``harness``.
    session_id: bool
    #: ``task:post`` rebuilds ``state/state.json`` after appending its event.
    rebuilds_state_cache: bool
    #: ``task:post`` refuses an ``ok`` shell result that fails the task's ``outputSchema``
    #: and calls the ``task.completed`` runtime hooks, which may deny the result
    #: (6.x ``runtime/commitEffectResult.js``).
    gates_results: bool
    #: ``task:post`` of a breakpoint adds ``data.breakpointId`` from the task's
    #: ``metadata.breakpointId``.
    breakpoint_id: bool
    #: ``task:post --status error`` of a ``shell`` effect commits an ``ok`` result whose
    #: value is ``{success: false, exitCode, stdout, stderr, error}`` (6.x
    #: ``coerceShellFailureResult``), so the process sees a failed command as a value.
    shell_error_as_ok: bool
    #: ``task:post --error FILE`` takes a file that is not JSON as ``{name: "Error",
    #: message: <text>}`` (6.x ``readErrorFile``); 0.0.x refuses it.
    error_file_text_ok: bool
    #: ``task:post`` of an ok breakpoint answer enforces signed answers when
    #: ``POLICY_CONFIG_ROOT_FP`` pins a trust anchor (6.0.x ``enforceSignedBreakpointGate``).
    signed_breakpoints: bool
    #: Step ids derived from task, label, argument shape and occurrence, so branches of a
    #: ``ctx.parallel.all`` advance independently (6.x); else one global counter (0.0.x).
    derived_step_ids: bool
    #: Event types the line's replay acts on (others are skipped by its replay).
    known_events: frozenset[str]
    #: The runs directory when nothing overrides it: ``"repo"`` (``<repo>/.a5c/runs``) or
    #: ``"global"`` (``~/.a5c/runs``, ``$BABYSITTER_GLOBAL_STATE_DIR/runs``).
    default_runs_scope: str

    def supports(self, version: tuple[int, int, int]) -> bool:
        """Whether ``version`` is a supported release of this line."""
        return self.lowest <= version <= self.highest

    @property
    def range_text(self) -> str:
        """``0.0.162-0.0.187``."""
        return f"{_text(self.lowest)}-{_text(self.highest)}"


def _text(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


_COMMON_EVENTS = frozenset(
    {"RUN_CREATED", "EFFECT_REQUESTED", "EFFECT_RESOLVED", "RUN_COMPLETED", "RUN_FAILED"}
)

LINE_0_0 = SdkLine(
    name="0.0",
    lowest=(0, 0, 162),
    highest=(0, 0, 187),
    writes_sdk_version=False,
    harness_first=True,
    session_id=False,
    rebuilds_state_cache=False,
    gates_results=False,
    breakpoint_id=False,
    shell_error_as_ok=False,
    error_file_text_ok=False,
    signed_breakpoints=False,
    derived_step_ids=False,
    known_events=_COMMON_EVENTS,
    default_runs_scope="repo",
)

LINE_6_0 = SdkLine(
    name="6.0",
    lowest=(6, 0, 0),
    highest=(6, 0, 3),
    writes_sdk_version=True,
    harness_first=False,
    session_id=True,
    rebuilds_state_cache=True,
    gates_results=True,
    breakpoint_id=True,
    shell_error_as_ok=True,
    error_file_text_ok=True,
    signed_breakpoints=True,
    derived_step_ids=True,
    known_events=_COMMON_EVENTS
    | {
        "EFFECT_CANCELLED",
        "EFFECT_PROGRESS",
        "COST_TRACKED",
        "RUN_HALTED",
        "RUN_ITERATION",
        "PROCESS_ASSIGNED",
        "PROCESS_CODE_HASH_CHANGED",
        "PROCESS_RUNTIME_ERROR",
    },
    default_runs_scope="global",
)

LINES: tuple[SdkLine, ...] = (LINE_0_0, LINE_6_0)

#: The supported releases, for messages.
SUPPORTED = ", ".join(line.range_text for line in LINES)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` of a semver string (pre-release/build ignored), else None."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)))


def line_of_version(version: str) -> SdkLine | None:
    """The line a supported release belongs to; None when unsupported or not a version."""
    parsed = parse_version(version)
    if parsed is None:
        return None
    for line in LINES:
        if line.supports(parsed):
            return line
    return None


def _refuse(where: str, version: str, what: str) -> UnsupportedSdkError:
    return UnsupportedSdkError(
        f"{where}: {what} SDK {version}, which babysit-plugin does not support (supported: "
        f"{SUPPORTED}) — use the babysitter CLI of that release for this run, or a "
        "babysit-plugin that knows it; nothing was written",
        where,
    )


def installed_sdk_version(start: Path) -> tuple[str, Path] | None:
    """The version of ``node_modules/@a5c-ai/babysitter-sdk`` nearest ``start`` upward, and
    its ``package.json``; None when none is installed there or it is unreadable."""
    for directory in (start, *start.parents):
        package = directory / "node_modules" / "@a5c-ai" / "babysitter-sdk" / "package.json"
        try:
            raw = loads(package.read_bytes().decode("utf-8", errors="replace"))
        except (OSError, JsonParseError):
            continue
        version = raw.get("version") if isinstance(raw, dict) else None
        if isinstance(version, str):
            return version, package
    return None


def detect_line(run_path: Path, run_json: JsonValue) -> tuple[SdkLine, str | None]:
    """The line of the run at ``run_path`` and its release when known (see the module
    docstring). Raises :class:`UnsupportedSdkError` for a release of an unknown line."""
    marker = run_json.get("sdkVersion") if isinstance(run_json, dict) else None
    if marker is not None:
        where = str(run_path / "run.json")
        if not isinstance(marker, str):
            raise _refuse(where, repr(marker), "expected an SDK version string, found")
        line = line_of_version(marker)
        if line is None or not line.writes_sdk_version:
            raise _refuse(where, marker, "the run was created by")
        return line, marker
    installed = installed_sdk_version(run_path)
    if installed is not None:
        version, package = installed
        parsed = parse_version(version)
        if parsed is not None and parsed[:2] == (0, 0):
            if not LINE_0_0.supports(parsed):
                raise _refuse(str(package), version, "the project has")
            return LINE_0_0, version
    return LINE_0_0, None


def check_event_version(line: SdkLine, name: str, body: dict[str, JsonValue]) -> str | None:
    """The one-line reason a journal file does not belong to ``line``, else None."""
    version = body.get("sdkVersion")
    if line.writes_sdk_version:
        if not isinstance(version, str):
            return (
                f"journal/{name}: expected sdkVersion of the {line.name}.x line, as every "
                f"{line.name}.x event carries, found {'none' if version is None else repr(version)}"
                " — the run mixes SDK lines (this event was written by a 0.0.x writer); "
                f"supported: {SUPPORTED}; restore the file from version control"
            )
        found = line_of_version(version)
        if found is not line:
            return (
                f"journal/{name}: expected sdkVersion of the {line.name}.x line, found "
                f"{version} — the run mixes SDK lines or was written by an unsupported SDK "
                f"(supported: {SUPPORTED}); restore the file from version control"
            )
        return None
    if version is not None:
        return (
            f"journal/{name}: expected no sdkVersion in a 0.0.x run (its run.json has none), "
            f"found {version!r} — the run mixes SDK lines (supported: {SUPPORTED}); "
            "restore the file from version control"
        )
    return None


def writer_version(
    line: SdkLine,
    run_version: str | None,
    places: tuple[Path, ...],
    last_event_version: str | None,
) -> str | None:
    """The ``sdkVersion`` a post on ``line`` writes (None on lines that write none).

    ``places`` are where the user's SDK may be installed: the run directory and the
    project ``run.json``'s ``cwd`` names (6.x runs live in ``~/.a5c/runs`` by default).
    """
    if not line.writes_sdk_version:
        return None
    for place in places:
        installed = installed_sdk_version(place)
        if installed is not None and line_of_version(installed[0]) is line:
            return installed[0]
    return last_event_version or run_version


#: ``session/discovery.js`` ``HARNESS_ENV_VARS`` (6.0.3): a harness's own session variables.
HARNESS_SESSION_ENV: dict[str, tuple[str, ...]] = {
    "claude-code": ("CLAUDE_ENV_FILE",),
    "codex": ("CODEX_THREAD_ID", "CODEX_SESSION_ID", "CODEX_PLUGIN_ROOT"),
    "cursor": ("CURSOR_PROJECT_DIR", "CURSOR_VERSION"),
    "gemini-cli": ("GEMINI_SESSION_ID", "GEMINI_CWD", "GEMINI_PROJECT_DIR"),
    "github-copilot": ("COPILOT_SESSION_ID",),
    "oh-my-pi": ("OMP_SESSION_ID",),
    "opencode": ("AGENT_SESSION_ID", "OPENCODE_SESSION_ID"),
    "pi": ("PI_SESSION_ID",),
}


def ambient_session_id(harness: str | None, env: Mapping[str, str]) -> str | None:
    """``data.sessionId`` as 6.x's ``appendEvent`` adds it (``resolveAmbientSessionId``).

    Without a run harness: ``AGENT_SESSION_ID``. With one: the harness's own variables
    (:data:`HARNESS_SESSION_ENV`, first set one wins), then ``AGENT_SESSION_ID``; with
    ``AGENT_TRUST_ENV_SESSION=1`` (or ``BABYSITTER_TRUST_ENV_SESSION=1``)
    ``AGENT_SESSION_ID`` comes first. Empty values count as unset (JS truthiness).

    Not reproduced: the PID-scoped session marker files the SDK reads first when
    ``AGENT_ENABLE_SESSION_PID_MARKERS`` is on (they need the harness's ancestor process);
    with that variable set, a marker the SDK would find is not seen here.
    """
    agent = env.get("AGENT_SESSION_ID") or None
    if not harness:
        return agent
    own = next((env[k] for k in HARNESS_SESSION_ENV.get(harness, ()) if env.get(k)), None)
    trust = (
        env.get("AGENT_TRUST_ENV_SESSION") == "1" or env.get("BABYSITTER_TRUST_ENV_SESSION") == "1"
    )
    if trust:
        return agent or own
    return own or agent
