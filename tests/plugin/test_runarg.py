"""Every command taking a RUN_DIR resolves it the same way (a path or a run id, --runs-dir)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from babysit_plugin.cli import build_parser
from babysit_plugin.commands import runarg


def test_every_run_dir_argument_takes_runs_dir() -> None:
    """A subcommand with a RUN_DIR positional also has --runs-dir, with the shared help."""
    parser = build_parser()
    sub_action = next(a for a in parser._actions if a.dest == "command")
    choices: dict[str, argparse.ArgumentParser] = getattr(sub_action, "choices", {})
    with_run = []
    for name, sub in choices.items():
        dests = {a.dest: a for a in sub._actions}
        if "run_dir" in dests and not dests["run_dir"].option_strings:
            with_run.append(name)
            assert dests["run_dir"].help == runarg.RUN_HELP, name
            assert "runs_dir" in dests, name
    assert {"pending", "post", "verify", "dispatch"} <= set(with_run)


def test_run_id_resolves_under_runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_dir_of finds an id under --runs-dir from the current directory."""
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "run.json").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(run_dir="r1", runs_dir="runs")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runarg.run_dir_of(args) == tmp_path / "runs" / "r1"
