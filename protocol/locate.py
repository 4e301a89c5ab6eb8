"""Where a run is: a ``RUN_DIR`` argument (a path or a run id) resolved as the SDK resolves it.

Rules kept here, read off both lines' ``dist/`` (the environment and working directory are
passed in, so this stays pure):

- **0.0.x** (``cli/main.js`` ``resolveRunDir``, ``config/defaults.js``): the runs directory is
  ``--runs-dir``, else ``$BABYSITTER_RUNS_DIR``, else ``.a5c/runs``, relative to the working
  directory. An argument is tried under it (unless it already starts with it), then from the
  working directory. ``.a5c/runs/.a5c/runs`` and ``.a5c/.a5c`` collapse to one.
- **6.x** (``config/runs.js`` ``resolveRunsDir``, ``getReadableRunsDirs``,
  ``resolveExistingRunDir``): the primary runs directory is ``--runs-dir``, else
  ``$BABYSITTER_RUNS_DIR`` (a relative one is relative to the repository root in repo scope,
  else to the global state root); without either, ``$BABYSITTER_RUNS_SCOPE`` of ``repo``
  (also ``project``, ``root``, ``local``) gives ``<repo>/.a5c/runs``, anything else
  ``<global>/runs``, where ``<global>`` is ``$BABYSITTER_GLOBAL_STATE_DIR`` or ``~/.a5c`` and
  ``<repo>`` the nearest ancestor of the working directory holding ``.git`` or ``.a5c``
  (else the working directory). ``<repo>/.a5c/runs`` is always readable too. An id is
  looked for in each readable directory; an argument that looks like a path (holds ``/``,
  or is ``.``/``..``) is tried from the working directory, then from ``<repo>``.
- A run is a directory holding ``run.json``. An id is looked for in every place either line
  would look, in that order: found in one, that run; in two or more different ones, an
  :class:`AmbiguousRunError` naming them (never a guess); in none, a
  :class:`RunNotFoundError` naming every place looked. A path is taken from the first place
  holding it; when none does, the path itself is returned for the caller to report.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from protocol.errors import ProtocolError, RunNotFoundError

__all__ = [
    "AmbiguousRunError",
    "RunsPlace",
    "collapse_doubled",
    "locate_run",
    "readable_places",
    "repo_root",
]

_REPO_SCOPES = frozenset({"repo", "project", "root", "local"})
_DOUBLED_RUNS = re.compile(r"([/\\]?\.a5c[/\\]runs)[/\\]\.a5c[/\\]runs([/\\]|$)")
_DOUBLED_A5C = re.compile(r"([/\\]\.a5c)[/\\]\.a5c([/\\])")


class AmbiguousRunError(ProtocolError, LookupError):
    """A run id names runs in more than one runs directory."""


@attrs.frozen
class RunsPlace:
    """A runs directory and why it is looked in (``BABYSITTER_RUNS_DIR``, 6.x default ...)."""

    path: Path
    why: str


def collapse_doubled(path: str) -> str:
    """``collapseDoubledA5cRuns``: ``.a5c/runs/.a5c/runs`` and ``.a5c/.a5c`` become one."""
    # collapseDoubledA5cRuns: .a5c/runs/.a5c/runs -> .a5c/runs, .a5c/.a5c/ -> .a5c/
    while _DOUBLED_RUNS.search(path):
        path = _DOUBLED_RUNS.sub(r"\1\2", path, count=1)
    while _DOUBLED_A5C.search(path):
        path = _DOUBLED_A5C.sub(r"\1\2", path, count=1)
    return path


def _norm(path: str | Path) -> Path:
    return Path(collapse_doubled(os.path.normpath(path)))


def repo_root(cwd: Path, exists: Callable[[Path], bool] = os.path.lexists) -> Path:
    """6.x ``getRepoRoot``: the nearest ancestor holding ``.git`` or ``.a5c``, else ``cwd``."""
    current = Path(os.path.abspath(cwd))
    while True:
        if exists(current / ".git") or exists(current / ".a5c"):
            return current
        if current.parent == current:
            return Path(os.path.abspath(cwd))
        current = current.parent


def _global_root(env: Mapping[str, str], home: Path) -> Path:
    configured = env.get("BABYSITTER_GLOBAL_STATE_DIR", "").strip()
    return Path(os.path.abspath(configured)) if configured else home / ".a5c"


def readable_places(
    cwd: Path, env: Mapping[str, str], home: Path, runs_dir: str | None = None
) -> list[RunsPlace]:
    """Every runs directory an id is looked for in, in order, without repeats."""
    cwd = Path(os.path.abspath(cwd))
    repo = repo_root(cwd)
    repo_scope = env.get("BABYSITTER_RUNS_SCOPE", "").strip().lower() in _REPO_SCOPES
    places: list[RunsPlace] = []
    flag = runs_dir.strip() if runs_dir is not None else ""
    from_env = env.get("BABYSITTER_RUNS_DIR", "").strip()
    explicit, source = (flag, "--runs-dir") if flag else (from_env, "BABYSITTER_RUNS_DIR")
    if explicit:
        if os.path.isabs(explicit):
            places.append(RunsPlace(_norm(explicit), source))
        else:
            base = repo if repo_scope else _global_root(env, home)
            scope = "repository root" if repo_scope else "global state root"
            places.append(RunsPlace(_norm(base / explicit), f"{source} (6.x, from the {scope})"))
            places.append(RunsPlace(_norm(cwd / explicit), f"{source} (0.0.x, from here)"))
    elif repo_scope:
        places.append(RunsPlace(repo / ".a5c" / "runs", "BABYSITTER_RUNS_SCOPE=repo (6.x)"))
    else:
        places.append(RunsPlace(_global_root(env, home) / "runs", "the 6.x default"))
    places.append(RunsPlace(repo / ".a5c" / "runs", "the repository's runs (6.x)"))
    if not explicit:
        places.append(RunsPlace(cwd / ".a5c" / "runs", "the 0.0.x default"))
    unique: list[RunsPlace] = []
    for place in places:
        if all(place.path != seen.path for seen in unique):
            unique.append(place)
    return unique


def _is_run(path: Path) -> bool:
    return os.path.isfile(path / "run.json")


def locate_run(
    ref: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    home: Path,
    runs_dir: str | None = None,
) -> Path:
    """The run directory ``ref`` names; see the module docstring for the rules."""
    cwd = Path(os.path.abspath(cwd))
    if os.path.isabs(ref):
        return _norm(ref)
    places = readable_places(cwd, env, home, runs_dir)
    posix = ref.replace("\\", "/").rstrip("/")
    if "/" in posix or posix in (".", ".."):
        candidates = [_norm(cwd / ref)]
        flag = runs_dir.strip() if runs_dir is not None else ""
        zero = flag or env.get("BABYSITTER_RUNS_DIR", "") or ".a5c/runs"
        zero_norm = posixpath.normpath(zero.replace("\\", "/")).rstrip("/")
        if not (posix == zero_norm or posix.startswith(zero_norm + "/")):
            candidates.append(_norm(cwd / zero / ref))
        candidates.append(_norm(repo_root(cwd) / ref))
        for candidate in candidates:
            if _is_run(candidate):
                return candidate
        return candidates[0]
    found: list[Path] = []
    for place in places:
        candidate = _norm(place.path / ref)
        if _is_run(candidate) and candidate not in found:
            found.append(candidate)
    if not found and _is_run(_norm(cwd / ref)):
        # 0.0.x falls back to the argument as a path from the working directory.
        return _norm(cwd / ref)
    if len(found) == 1:
        return found[0]
    if found:
        raise AmbiguousRunError(
            f"{ref}: expected one run with this id, found {len(found)}: "
            + ", ".join(map(str, found))
            + " — pass the run directory's path, or --runs-dir",
            str(found[0]),
        )
    looked = "; ".join(f"{p.path / ref} ({p.why})" for p in places)
    raise RunNotFoundError(
        f"{ref}: expected a run directory holding run.json, found none — looked in {looked}, "
        f"and {cwd / ref}; pass the run directory's path, or --runs-dir DIR",
        str(places[0].path / ref),
    )
