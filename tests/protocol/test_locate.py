"""protocol.locate: a run id or path resolved as SDK 0.0.x and 6.x resolve it."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.errors import RunNotFoundError
from protocol.locate import AmbiguousRunError, locate_run, readable_places


def _run(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "run.json").write_text("{}\n")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def test_six_default_is_the_global_state_root(repo: Path, tmp_path: Path) -> None:
    """With no settings an id is found under ~/.a5c/runs, from any subdirectory."""
    home = tmp_path / "home"
    run = _run(home / ".a5c" / "runs" / "r1")
    (repo / "src").mkdir()
    assert locate_run("r1", cwd=repo / "src", env={}, home=home) == run


def test_global_state_dir_replaces_home(repo: Path, tmp_path: Path) -> None:
    """$BABYSITTER_GLOBAL_STATE_DIR/runs replaces ~/.a5c/runs."""
    run = _run(tmp_path / "state" / "runs" / "r1")
    env = {"BABYSITTER_GLOBAL_STATE_DIR": str(tmp_path / "state")}
    assert locate_run("r1", cwd=repo, env=env, home=tmp_path / "home") == run


def test_repo_scope_uses_the_nearest_ancestor_with_git(repo: Path, tmp_path: Path) -> None:
    """BABYSITTER_RUNS_SCOPE=repo: <repo>/.a5c/runs, also from a subdirectory."""
    run = _run(repo / ".a5c" / "runs" / "r1")
    (repo / "a" / "b").mkdir(parents=True)
    env = {"BABYSITTER_RUNS_SCOPE": "project"}
    assert locate_run("r1", cwd=repo / "a" / "b", env=env, home=tmp_path) == run
    assert locate_run("r1", cwd=repo / "a" / "b", env={}, home=tmp_path) == run


def test_runs_dir_flag_wins_and_relative_env_follows_the_scope(repo: Path, tmp_path: Path) -> None:
    """--runs-dir is looked in first; a relative BABYSITTER_RUNS_DIR is from ~/.a5c (6.x)."""
    home = tmp_path / "home"
    flagged = _run(tmp_path / "elsewhere" / "r1")
    assert (
        locate_run("r1", cwd=repo, env={}, home=home, runs_dir=str(tmp_path / "elsewhere"))
        == flagged
    )
    run = _run(home / ".a5c" / "custom" / "r2")
    assert locate_run("r2", cwd=repo, env={"BABYSITTER_RUNS_DIR": "custom"}, home=home) == run


def test_zero_x_default_and_paths(repo: Path, tmp_path: Path) -> None:
    """An id under ./.a5c/runs (0.0.x) and a relative path are found; absolute is as given."""
    run = _run(repo / ".a5c" / "runs" / "r1")
    assert locate_run("r1", cwd=repo, env={}, home=tmp_path) == run
    assert locate_run(".a5c/runs/r1", cwd=repo, env={}, home=tmp_path) == run
    assert locate_run(".a5c/runs/.a5c/runs/r1", cwd=repo, env={}, home=tmp_path) == run
    assert locate_run(str(tmp_path / "nothing"), cwd=repo, env={}, home=tmp_path) == (
        tmp_path / "nothing"
    )


def test_an_id_in_two_places_is_ambiguous(repo: Path, tmp_path: Path) -> None:
    """The same id under ~/.a5c/runs and <repo>/.a5c/runs: both named, none chosen."""
    home = tmp_path / "home"
    one = _run(home / ".a5c" / "runs" / "r1")
    two = _run(repo / ".a5c" / "runs" / "r1")
    with pytest.raises(AmbiguousRunError) as err:
        locate_run("r1", cwd=repo, env={}, home=home)
    assert str(err.value) == (
        f"r1: expected one run with this id, found 2: {one}, {two} — pass the run "
        "directory's path, or --runs-dir"
    )
    assert locate_run("r1", cwd=repo, env={}, home=home, runs_dir=str(repo / ".a5c/runs")) == (two)


def test_an_id_found_nowhere_names_every_place(repo: Path, tmp_path: Path) -> None:
    """One line naming each runs directory looked in and why."""
    home = tmp_path / "home"
    with pytest.raises(RunNotFoundError) as err:
        locate_run("r9", cwd=repo, env={}, home=home)
    assert str(err.value) == (
        "r9: expected a run directory holding run.json, found none — looked in "
        f"{home}/.a5c/runs/r9 (the 6.x default); {repo}/.a5c/runs/r9 (the repository's runs "
        f"(6.x)), and {repo}/r9; pass the run directory's path, or --runs-dir DIR"
    )
    assert [p.why for p in readable_places(repo / "sub", {}, home)] == [
        "the 6.x default",
        "the repository's runs (6.x)",
        "the 0.0.x default",
    ]
