"""``babysit-plugin install``: drop the hook and the skill into a repository.

What it writes (paths relative to the repository root):

- ``.a5c/hooks/on-iteration-start/babysit-plugin.sh``: the hook ``run:iterate`` runs through the
  babysitter plugin's hook dispatcher. It calls this very installation by absolute path
  (``<sys.executable> -m babysit_plugin hook``), so it works without anything on ``PATH``.
- ``<skills dir>/babysit-plugin/SKILL.md`` for each skills directory (default
  ``.claude/skills``): the repository's ``skill.md`` with its command lines pointing at this
  installation's ``babysit-plugin`` executable.
- with ``--with-dispatcher``, ``plugins/babysitter/hooks/hook-dispatcher.sh``: the dispatcher
  ``run:iterate`` needs to run any hook at all (see :func:`find_hook_dispatcher`).

Rules it keeps:

- Every file it writes carries a marker line naming the file's role and the directories the
  install created for it. A file at a target path without that marker belongs to the user and
  is never overwritten without ``--force``; ``--uninstall`` removes only marked files, then
  the directories their marker lists, deepest first, when they are empty.
- Idempotent: a second run computes the same bytes (the created-directories record is carried
  over from the file already there) and writes nothing.
- All or nothing: every conflict is found before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal

import attrs

from protocol.fsutil import atomic_write
from protocol.lines import LINE_6_0, installed_sdk_version, line_of_version

SKILL_NAME = "babysit-plugin"
HOOK_REL = PurePosixPath(".a5c/hooks/on-iteration-start/babysit-plugin.sh")
DISPATCHER_REL = PurePosixPath("plugins/babysitter/hooks/hook-dispatcher.sh")
DEFAULT_SKILLS_DIRS: tuple[str, ...] = (".claude/skills",)
#: Skills directories ``--uninstall`` looks in besides the ones given (see README).
KNOWN_SKILLS_DIRS: tuple[str, ...] = (
    ".claude/skills",
    ".agents/skills",
    ".opencode/skills",
    ".github/skills",
    ".cursor/skills",
    ".gemini/skills",
)

Role = Literal["hook", "skill", "dispatcher"]
Render = Callable[[Sequence[str]], str]
Verb = Literal["create", "update", "unchanged", "conflict", "overwrite", "remove", "absent", "keep"]

_MARKER = re.compile(r"babysit-plugin-file: (hook|skill|dispatcher); created-dirs: (\[[^\]\n]*\])")
_COMMAND_LINE = re.compile(r"(?:^|(?<=\| ))babysit-plugin(?= |$)", re.MULTILINE)
_ALLOWED_TOOL = "Bash(babysit-plugin:*)"


class InstallError(Exception):
    """The repository cannot be changed as asked; nothing was written."""


@attrs.frozen
class Change:
    """One file ``install`` creates, updates, leaves or removes."""

    role: Role
    rel: str
    verb: Verb
    note: str = ""
    content: str | None = None
    executable: bool = False
    created_dirs: tuple[str, ...] = ()


@attrs.frozen
class DispatcherInfo:
    """Where ``run:iterate`` would find a hook dispatcher for this repository, if anywhere."""

    path: Path | None
    how: str


@attrs.frozen
class InstallReport:
    """The outcome of :func:`install` or :func:`uninstall`."""

    repo: Path
    changes: tuple[Change, ...]
    dispatcher: DispatcherInfo
    dry_run: bool
    #: The project's installed SDK (version, package.json), if any.
    sdk: tuple[str, Path] | None = None


# --- content -------------------------------------------------------------------------------


def _data_text(*parts: str) -> str:
    node = resources.files("babysit_plugin").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def hook_python() -> str:
    """The interpreter the hook runs: this one, unresolved (a venv's ``bin/python`` link)."""
    return os.path.abspath(sys.executable)


def skill_command() -> str:
    """The command line the installed skill uses for ``babysit-plugin``."""
    script = Path(hook_python()).parent / "babysit-plugin"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(hook_python())} -m babysit_plugin"


def _created_record(created: Sequence[str]) -> str:
    return json.dumps(list(created), ensure_ascii=False)


def render_hook(python: str, created: Sequence[str]) -> str:
    """The hook script, calling ``python -m babysit_plugin hook``."""
    text = _data_text("hook", "babysit-plugin.sh")
    return text.replace("@PYTHON@", shlex.quote(python)).replace(
        "@CREATED_DIRS@", _created_record(created)
    )


def render_dispatcher(created: Sequence[str]) -> str:
    """The hook dispatcher script."""
    return _data_text("hook", "hook-dispatcher.sh").replace(
        "@CREATED_DIRS@", _created_record(created)
    )


def skill_source() -> str:
    """The skill as shipped (``babysit_plugin/data/skill.md``, a copy of ``skill.md``)."""
    return _data_text("skill.md")


def render_skill(command: str, created: Sequence[str]) -> str:
    """``skill.md`` with its command lines and ``allowed-tools`` naming ``command``."""
    text = skill_source()
    text = text.replace(_ALLOWED_TOOL, f"Bash({command}:*)")
    out: list[str] = []
    fenced = False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
            out.append(line)
        elif fenced:
            out.append(_COMMAND_LINE.sub(lambda _m: command, line))
        else:
            out.append(line)
    if out and not out[-1].endswith("\n"):
        out.append("\n")
    out.append(f"\n<!-- babysit-plugin-file: skill; created-dirs: {_created_record(created)} -->\n")
    return "".join(out)


# --- discovery -----------------------------------------------------------------------------


def find_hook_dispatcher(repo: Path, env: Mapping[str, str] | None = None) -> DispatcherInfo:
    """Where the SDK's ``findHookDispatcherPath`` would find a dispatcher for ``repo``.

    The SDK first asks the active harness adapter (Claude Code's looks at
    ``$CLAUDE_PLUGIN_ROOT/hooks/hook-dispatcher.sh``; it is the active adapter only when
    ``CLAUDE_ENV_FILE`` is set and no other harness's variables are), then walks up from the
    project root looking for ``plugins/babysitter/hooks/hook-dispatcher.sh``.
    """
    environ = os.environ if env is None else env
    current = Path(os.path.abspath(repo))
    for _ in range(50):
        candidate = current / DISPATCHER_REL
        if candidate.exists():
            return DispatcherInfo(candidate, "found walking up from the repository")
        if current.parent == current:
            break
        current = current.parent
    plugin_root = environ.get("CLAUDE_PLUGIN_ROOT")
    if plugin_root:
        candidate = Path(os.path.abspath(plugin_root)) / "hooks" / "hook-dispatcher.sh"
        if candidate.exists():
            return DispatcherInfo(
                candidate,
                "found through CLAUDE_PLUGIN_ROOT (used when run:iterate runs under Claude Code)",
            )
    return DispatcherInfo(None, "none reachable")


# --- planning ------------------------------------------------------------------------------


def _missing_dirs(repo: Path, rel: PurePosixPath) -> list[str]:
    missing: list[str] = []
    for parent in reversed(rel.parents):
        if str(parent) == ".":
            continue
        if not (repo / parent).exists():
            missing.append(str(parent))
    return missing


def _read_marker(path: Path, role: Role) -> tuple[bool, list[str]]:
    """(is ours, created-dirs record) of an existing file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False, []
    match = _MARKER.search(text)
    if match is None or match.group(1) != role:
        return False, []
    try:
        record = json.loads(match.group(2))
    except json.JSONDecodeError:
        return True, []
    return True, [d for d in record if isinstance(d, str)]


def _plan_file(
    repo: Path,
    role: Role,
    rel: PurePosixPath,
    render: Render,
    *,
    force: bool,
    executable: bool,
) -> Change:
    path = repo / rel
    created = _missing_dirs(repo, rel)
    if path.is_symlink() or path.exists():
        if path.is_dir() and not path.is_symlink():
            return Change(role, str(rel), "conflict", "a directory is in the way")
        ours, record = _read_marker(path, role)
        if ours:
            merged = record + [d for d in created if d not in record]
            content = render(merged)
            try:
                same = path.read_text(encoding="utf-8") == content
            except (OSError, UnicodeDecodeError):
                same = False
            mode_ok = not executable or os.access(path, os.X_OK)
            verb: Verb = "unchanged" if same and mode_ok else "update"
            return Change(role, str(rel), verb, "", content, executable, tuple(merged))
        if not force:
            return Change(
                role,
                str(rel),
                "conflict",
                "exists and was not written by babysit-plugin; move it away or pass --force",
            )
        content = render(created)
        return Change(
            role,
            str(rel),
            "overwrite",
            "replacing a file not written by babysit-plugin",
            content,
            executable,
            tuple(created),
        )
    content = render(created)
    return Change(role, str(rel), "create", "", content, executable, tuple(created))


def _skills_dirs(dirs: Iterable[str]) -> list[PurePosixPath]:
    out: list[PurePosixPath] = []
    for raw in dirs:
        rel = PurePosixPath(raw.replace(os.sep, "/"))
        if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
            raise InstallError(
                f"--skills-dir {raw}: expected a directory relative to the repository root "
                "(like .claude/skills), found an absolute path or one leaving the repository; "
                "pass a relative path"
            )
        if rel not in out:
            out.append(rel)
    return out


def _check_repo(repo_dir: str | Path) -> Path:
    repo = Path(os.path.abspath(repo_dir))
    if not repo.is_dir():
        found = "a file" if repo.exists() else "nothing"
        raise InstallError(
            f"{repo}: expected the repository's root directory, found {found}; "
            "pass an existing directory"
        )
    return repo


def plan_install(
    repo_dir: str | Path,
    *,
    skills_dirs: Sequence[str] = DEFAULT_SKILLS_DIRS,
    with_dispatcher: bool = False,
    force: bool = False,
    python: str | None = None,
    command: str | None = None,
) -> list[Change]:
    """The changes :func:`install` would make, without making them."""
    repo = _check_repo(repo_dir)
    py = python or hook_python()
    cmd = command or skill_command()
    changes = [
        _plan_file(
            repo,
            "hook",
            HOOK_REL,
            lambda created: render_hook(py, created),
            force=force,
            executable=True,
        )
    ]
    for skills in _skills_dirs(skills_dirs):
        changes.append(
            _plan_file(
                repo,
                "skill",
                skills / SKILL_NAME / "SKILL.md",
                lambda created: render_skill(cmd, created),
                force=force,
                executable=False,
            )
        )
    if with_dispatcher:
        changes.append(
            _plan_file(
                repo,
                "dispatcher",
                DISPATCHER_REL,
                render_dispatcher,
                force=force,
                executable=True,
            )
        )
    return changes


def _make_executable(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE(path.stat().st_mode)
    path.chmod(mode | (0o111 & ~umask) | stat.S_IXUSR)


def install(
    repo_dir: str | Path,
    *,
    skills_dirs: Sequence[str] = DEFAULT_SKILLS_DIRS,
    with_dispatcher: bool = False,
    force: bool = False,
    dry_run: bool = False,
    python: str | None = None,
    command: str | None = None,
    env: Mapping[str, str] | None = None,
) -> InstallReport:
    """Write the hook and skill into ``repo_dir`` (see the module docstring)."""
    repo = _check_repo(repo_dir)
    changes = plan_install(
        repo,
        skills_dirs=skills_dirs,
        with_dispatcher=with_dispatcher,
        force=force,
        python=python,
        command=command,
    )
    conflicts = [c for c in changes if c.verb == "conflict"]
    if conflicts:
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise InstallError(f"{repo / first.rel}: {first.note}{more}; nothing was written")
    if not dry_run:
        for change in changes:
            if change.verb in ("create", "update", "overwrite") and change.content is not None:
                path = repo / change.rel
                if path.is_symlink():
                    path.unlink()
                atomic_write(path, change.content)
                if change.executable:
                    _make_executable(path)
    return InstallReport(
        repo, tuple(changes), find_hook_dispatcher(repo, env), dry_run, installed_sdk_version(repo)
    )


def uninstall(
    repo_dir: str | Path,
    *,
    skills_dirs: Sequence[str] = (),
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
) -> InstallReport:
    """Remove every file ``install`` wrote into ``repo_dir`` and the directories it created."""
    repo = _check_repo(repo_dir)
    targets: list[tuple[Role, PurePosixPath]] = [("hook", HOOK_REL), ("dispatcher", DISPATCHER_REL)]
    for skills in _skills_dirs([*KNOWN_SKILLS_DIRS, *skills_dirs]):
        targets.append(("skill", skills / SKILL_NAME / "SKILL.md"))
    changes: list[Change] = []
    for role, rel in targets:
        path = repo / rel
        if not (path.is_file() and not path.is_symlink()):
            if path.exists() or path.is_symlink():
                changes.append(Change(role, str(rel), "keep", "not written by babysit-plugin"))
            continue
        ours, record = _read_marker(path, role)
        if not ours:
            changes.append(Change(role, str(rel), "keep", "not written by babysit-plugin"))
            continue
        changes.append(Change(role, str(rel), "remove", created_dirs=tuple(record)))
    if not dry_run:
        removed_dirs: list[str] = []
        for change in changes:
            if change.verb == "remove":
                (repo / change.rel).unlink()
                removed_dirs.extend(change.created_dirs)
        for rel_dir in sorted(set(removed_dirs), key=lambda d: (-d.count("/"), d)):
            _remove_empty_dir(repo, rel_dir)
    return InstallReport(repo, tuple(changes), find_hook_dispatcher(repo, env), dry_run)


def _remove_empty_dir(repo: Path, rel_dir: str) -> None:
    rel = PurePosixPath(rel_dir)
    if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
        return
    path = repo / rel
    if path.is_dir() and not path.is_symlink():
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            path.rmdir()


# --- report --------------------------------------------------------------------------------

_VERBS_DONE: dict[str, str] = {
    "create": "created",
    "update": "updated",
    "overwrite": "overwrote",
    "unchanged": "unchanged",
    "remove": "removed",
    "keep": "left",
    "conflict": "conflict",
    "absent": "absent",
}
_VERBS_DRY: dict[str, str] = {
    "create": "would create",
    "update": "would update",
    "overwrite": "would overwrite",
    "unchanged": "unchanged",
    "remove": "would remove",
    "keep": "would leave",
    "conflict": "conflict",
    "absent": "absent",
}


def format_report(report: InstallReport, *, uninstalling: bool = False) -> str:
    """Human-readable lines: one per file, then what the dispatcher finding means."""
    verbs = _VERBS_DRY if report.dry_run else _VERBS_DONE
    lines: list[str] = []
    for change in report.changes:
        note = f"  ({change.note})" if change.note else ""
        lines.append(f"{verbs[change.verb]:<16}{change.rel}{note}")
    if uninstalling:
        if not report.changes:
            lines.append(f"nothing of babysit-plugin's was found in {report.repo}")
        return "\n".join(lines) + "\n"
    info = report.dispatcher
    version = report.sdk[0] if report.sdk is not None else None
    line = line_of_version(version) if version is not None else None
    if line is LINE_6_0:
        lines += _six_lines(report, info)
        return "\n".join(lines) + "\n"
    if info.path is not None:
        lines.append(f"hook dispatcher: {info.path} ({info.how}).")
        lines.append(
            "  run:iterate runs the hook: a pending parallel group of shell effects is performed "
            'inside run:iterate, which then reports status "executed".'
        )
    else:
        lines.append(f"hook dispatcher: {info.how} from {report.repo}.")
        lines.append(
            "  run:iterate only runs .a5c/hooks through the babysitter plugin's "
            "plugins/babysitter/hooks/hook-dispatcher.sh, and the babysitter plugin for SDK "
            '0.0.187 ships none: run:iterate will report hookStatus "no-hooks-configured" and '
            "never call this hook."
        )
        lines.append(
            "  The skill still works: the agent runs `babysit-plugin dispatch` itself. To let "
            "run:iterate run the hook too, run install again with --with-dispatcher."
        )
    if report.sdk is None:
        lines.append(
            f"SDK: none installed at or above {report.repo} (node_modules/@a5c-ai/"
            "babysitter-sdk); the above is how SDK 0.0.x behaves."
        )
    else:
        lines.append(f"SDK: {report.sdk[0]} ({report.sdk[1]}).")
    return "\n".join(lines) + "\n"


def _six_lines(report: InstallReport, info: DispatcherInfo) -> list[str]:
    """What the hook does under SDK 6.x (``hooks/dispatcher.js`` ``callHook``)."""
    assert report.sdk is not None
    lines = [f"SDK: {report.sdk[0]} ({report.sdk[1]})."]
    stale = (
        "run:iterate listed nextActions before it ran the hook, so the effects the hook posted "
        "are still in that list; the next run:iterate sees them resolved, and `babysit-plugin "
        "dispatch` skips them. The agent never performs an effect of that list itself without "
        "running run:iterate (or dispatch) again."
    )
    if info.path is None:
        lines.append(f"hook dispatcher: {info.how} from {report.repo}.")
        lines.append(
            "  SDK 6.x runs .a5c/hooks/on-iteration-start/* (and ~/.a5c/hooks/"
            "on-iteration-start/*) itself, without reading their stdout: the hook performs a "
            "pending parallel group of shell effects and posts them, but run:iterate reports "
            '"waiting", not "executed". ' + stale
        )
        lines.append(
            "  --with-dispatcher would let run:iterate read the hook's decision, but on 6.x a "
            "dispatcher replaces the SDK's own hook discovery (hooks in ~/.a5c/hooks/ and "
            "plugin hooks would no longer run)."
        )
    else:
        lines.append(f"hook dispatcher: {info.path} ({info.how}).")
        lines.append(
            "  run:iterate runs the hook through it and reads its decision: after a parallel "
            'group of shell effects it reports "executed". ' + stale
        )
        if info.path == report.repo / DISPATCHER_REL:
            lines.append(
                "  This dispatcher replaces the SDK's own hook discovery: hooks in "
                "~/.a5c/hooks/ no longer run (it runs ${XDG_CONFIG_HOME:-~/.config}/babysitter/"
                "hooks/ instead)."
            )
    return lines
