"""babysit-plugin install: files written, idempotence, uninstall, conflicts, the hook script."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import kit
import pytest

from babysit_plugin.cli import main
from babysit_plugin.dropin import install

REPO = kit.REPO
HOOK = ".a5c/hooks/on-iteration-start/babysit-plugin.sh"
SKILL = ".claude/skills/babysit-plugin/SKILL.md"
DISPATCHER = "plugins/babysitter/hooks/hook-dispatcher.sh"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with some life in it: a run, settings, a source file."""
    root = tmp_path / "repo"
    (root / ".a5c" / "runs" / "r1").mkdir(parents=True)
    (root / ".a5c" / "runs" / "r1" / "run.json").write_text('{"runId": "r1"}\n')
    (root / ".claude").mkdir()
    (root / ".claude" / "settings.json").write_text("{}\n")
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text("print('hi')\n")
    return root


def test_repo_skill_is_the_packaged_skill() -> None:
    """skill.md at the repository root is byte-identical to the copy shipped in the package."""
    root = (REPO / "skill.md").read_bytes()
    packaged = (REPO / "babysit_plugin" / "data" / "skill.md").read_bytes()
    assert packaged == root, "run: cp skill.md babysit_plugin/data/skill.md"


def test_skill_frontmatter_names_the_skill() -> None:
    """The skill opens with frontmatter holding name, description and allowed-tools."""
    text = install.skill_source()
    assert text.startswith("---\n")
    front = text.split("---\n", 2)[1]
    keys = [line.split(":", 1)[0] for line in front.splitlines()]
    assert keys == ["name", "description", "allowed-tools"]
    assert "name: babysit-plugin\n" in front
    assert "allowed-tools: Bash(babysit-plugin:*), Bash(babysitter:*), Read\n" in front
    assert "0.0.187" in text


def test_install_writes_hook_and_skill(repo: Path) -> None:
    """Install creates the executable hook and the skill, and reports each file."""
    report = install.install(repo, env={})
    assert [(c.rel, c.verb) for c in report.changes] == [(HOOK, "create"), (SKILL, "create")]
    hook = repo / HOOK
    assert hook.stat().st_mode & stat.S_IXUSR
    text = hook.read_text()
    assert f"python={install.hook_python()}\n" in text
    assert '"$python" -m babysit_plugin hook --repo "$repo"' in text
    assert (
        '# babysit-plugin-file: hook; created-dirs: [".a5c/hooks", '
        '".a5c/hooks/on-iteration-start"]\n' in text
    )
    skill = (repo / SKILL).read_text()
    assert skill.endswith(
        '\n<!-- babysit-plugin-file: skill; created-dirs: [".claude/skills", '
        '".claude/skills/babysit-plugin"] -->\n'
    )


def test_installed_skill_calls_this_installation(repo: Path) -> None:
    """In the installed skill, command lines and allowed-tools name the absolute command."""
    command = "/opt/venv/bin/babysit-plugin"
    install.install(repo, command=command, env={})
    installed = (repo / SKILL).read_text()
    source = install.skill_source()
    assert f"allowed-tools: Bash({command}:*), Bash(babysitter:*), Read\n" in installed
    assert f"{command} dispatch <runId> --json\n" in installed
    assert f"| {command} dispatch <runId> --actions - --json\n" in installed
    assert "\nbabysit-plugin dispatch" not in installed
    # Prose is untouched: only fenced command lines and allowed-tools change.
    changed = [
        (a, b) for a, b in zip(source.splitlines(), installed.splitlines(), strict=False) if a != b
    ]
    assert changed
    for before, after in changed:
        assert after == before.replace("babysit-plugin", command, 1) or before.startswith(
            "allowed-tools:"
        )


def test_skill_command_is_the_console_script_beside_python() -> None:
    """The skill command is the babysit-plugin script next to the interpreter when there is one."""
    script = Path(install.hook_python()).parent / "babysit-plugin"
    if script.is_file():
        assert install.skill_command() == str(script)
    else:
        assert install.skill_command() == f"{install.hook_python()} -m babysit_plugin"


def test_install_twice_is_a_no_op(repo: Path) -> None:
    """A second install reports every file unchanged and changes no byte, mode or mtime."""
    install.install(repo, env={})
    before = kit.snapshot(repo)
    mtimes = {p: p.stat().st_mtime_ns for p in repo.rglob("*")}
    report = install.install(repo, env={})
    assert [c.verb for c in report.changes] == ["unchanged", "unchanged"]
    assert kit.snapshot(repo) == before
    assert {p: p.stat().st_mtime_ns for p in repo.rglob("*")} == mtimes


def test_uninstall_leaves_the_repo_as_it_was(repo: Path) -> None:
    """install then --uninstall: the repository snapshot is identical to before."""
    before = kit.snapshot(repo)
    install.install(repo, skills_dirs=[".claude/skills", ".agents/skills"], with_dispatcher=True)
    assert kit.snapshot(repo) != before
    report = install.uninstall(repo, env={})
    assert [(c.rel, c.verb) for c in report.changes] == [
        (HOOK, "remove"),
        (DISPATCHER, "remove"),
        (SKILL, "remove"),
        (".agents/skills/babysit-plugin/SKILL.md", "remove"),
    ]
    assert kit.snapshot_diff(before, kit.snapshot(repo)) == []


def test_uninstall_keeps_directories_that_gained_other_files(repo: Path) -> None:
    """A directory install created is kept when something else now lives in it."""
    install.install(repo, env={})
    other = repo / ".a5c" / "hooks" / "on-iteration-start" / "mine.sh"
    other.write_text("#!/bin/sh\n")
    install.uninstall(repo, env={})
    assert not (repo / HOOK).exists()
    assert other.read_text() == "#!/bin/sh\n"
    assert not (repo / ".claude" / "skills").exists()


def test_users_own_file_is_never_overwritten(repo: Path) -> None:
    """A SKILL.md not written by install stops the install; nothing at all is written."""
    own = repo / SKILL
    own.parent.mkdir(parents=True)
    own.write_text("my own skill\n")
    before = kit.snapshot(repo)
    with pytest.raises(install.InstallError) as info:
        install.install(repo, env={})
    assert str(info.value) == (
        f"{repo / SKILL}: exists and was not written by babysit-plugin; move it away or pass "
        "--force; nothing was written"
    )
    assert kit.snapshot(repo) == before


def test_force_overwrites_and_uninstall_then_removes(repo: Path) -> None:
    """--force replaces the user's file (said so); the file is then babysit-plugin's."""
    own = repo / SKILL
    own.parent.mkdir(parents=True)
    own.write_text("my own skill\n")
    report = install.install(repo, force=True, env={})
    assert (SKILL, "overwrite") in [(c.rel, c.verb) for c in report.changes]
    assert "babysit-plugin-file: skill" in own.read_text()
    install.uninstall(repo, env={})
    assert not own.exists()
    assert (repo / ".claude" / "skills" / "babysit-plugin").is_dir()


def test_uninstall_leaves_files_it_did_not_write(repo: Path) -> None:
    """--uninstall never removes a file without its marker, and says so."""
    own = repo / HOOK
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\necho mine\n")
    report = install.uninstall(repo, env={})
    assert [(c.rel, c.verb, c.note) for c in report.changes] == [
        (HOOK, "keep", "not written by babysit-plugin")
    ]
    assert own.read_text() == "#!/bin/sh\necho mine\n"


def test_dry_run_writes_nothing(repo: Path) -> None:
    """--dry-run reports what it would create and leaves the repository alone."""
    before = kit.snapshot(repo)
    report = install.install(repo, dry_run=True, with_dispatcher=True, env={})
    assert [c.verb for c in report.changes] == ["create", "create", "create"]
    assert install.format_report(report).splitlines()[:3] == [
        f"would create    {HOOK}",
        f"would create    {SKILL}",
        f"would create    {DISPATCHER}",
    ]
    assert kit.snapshot(repo) == before
    install.install(repo, env={})
    snap = kit.snapshot(repo)
    report = install.uninstall(repo, dry_run=True, env={})
    assert [c.verb for c in report.changes] == ["remove", "remove"]
    assert kit.snapshot(repo) == snap


def test_updated_interpreter_rewrites_the_hook(repo: Path) -> None:
    """Installing from another environment updates babysit-plugin's own hook in place."""
    install.install(repo, python="/old/venv/bin/python", env={})
    report = install.install(repo, python="/new/venv/bin/python", env={})
    assert [c.verb for c in report.changes] == ["update", "unchanged"]
    text = (repo / HOOK).read_text()
    assert "python=/new/venv/bin/python\n" in text
    assert '".a5c/hooks/on-iteration-start"' in text  # the record of created dirs survives


def test_skills_dir_outside_the_repo_is_refused(repo: Path) -> None:
    """--skills-dir must stay inside the repository."""
    with pytest.raises(install.InstallError) as info:
        install.install(repo, skills_dirs=["../elsewhere"], env={})
    assert str(info.value) == (
        "--skills-dir ../elsewhere: expected a directory relative to the repository root (like "
        ".claude/skills), found an absolute path or one leaving the repository; pass a "
        "relative path"
    )


def test_missing_repo_is_refused(tmp_path: Path) -> None:
    """REPO_DIR must be an existing directory."""
    with pytest.raises(install.InstallError) as info:
        install.install(tmp_path / "nope", env={})
    assert str(info.value) == (
        f"{tmp_path / 'nope'}: expected the repository's root directory, found nothing; pass "
        "an existing directory"
    )


# -- the hook dispatcher ------------------------------------------------------------------------


def test_no_dispatcher_is_explained(repo: Path) -> None:
    """Without a reachable dispatcher, install says the hook will not run and what to do."""
    report = install.install(repo, env={})
    assert report.dispatcher.path is None
    lines = install.format_report(report).splitlines()
    assert lines[2] == f"hook dispatcher: none reachable from {repo}."
    assert 'hookStatus "no-hooks-configured"' in lines[3]
    assert "--with-dispatcher" in lines[4]


def test_dispatcher_found_walking_up(tmp_path: Path) -> None:
    """A plugins/babysitter/hooks/hook-dispatcher.sh in a parent directory is found."""
    dispatcher = tmp_path / DISPATCHER
    dispatcher.parent.mkdir(parents=True)
    dispatcher.write_text("#!/bin/bash\n")
    nested = tmp_path / "work" / "project"
    nested.mkdir(parents=True)
    info = install.find_hook_dispatcher(nested, env={})
    assert info == install.DispatcherInfo(dispatcher, "found walking up from the repository")


def test_dispatcher_found_through_claude_plugin_root(tmp_path: Path) -> None:
    """$CLAUDE_PLUGIN_ROOT/hooks/hook-dispatcher.sh counts when nothing is found walking up."""
    plugin = tmp_path / "plugin"
    (plugin / "hooks").mkdir(parents=True)
    (plugin / "hooks" / "hook-dispatcher.sh").write_text("#!/bin/bash\n")
    project = tmp_path / "project"
    project.mkdir()
    info = install.find_hook_dispatcher(project, env={"CLAUDE_PLUGIN_ROOT": str(plugin)})
    assert info.path == plugin / "hooks" / "hook-dispatcher.sh"
    assert info.how.startswith("found through CLAUDE_PLUGIN_ROOT")


def test_with_dispatcher_makes_it_reachable(repo: Path) -> None:
    """--with-dispatcher writes an executable dispatcher that install then finds."""
    report = install.install(repo, with_dispatcher=True, env={})
    assert report.dispatcher == install.DispatcherInfo(
        repo / DISPATCHER, "found walking up from the repository"
    )
    assert (repo / DISPATCHER).stat().st_mode & stat.S_IXUSR


def test_dispatcher_runs_repo_hooks_with_the_payload(repo: Path) -> None:
    """The dispatcher feeds each executable per-repo hook the payload; stdout is theirs."""
    install.install(repo, with_dispatcher=True, env={})
    hooks = repo / ".a5c" / "hooks" / "on-test"
    hooks.mkdir(parents=True)
    (hooks / "a.sh").write_text('#!/bin/sh\nread line\necho "a:$line:$HOOK_TYPE"\n')
    (hooks / "b.sh").write_text("#!/bin/sh\nexit 4\n")
    (hooks / "c.sh").write_text("#!/bin/sh\necho not executable\n")
    (hooks / "a.sh").chmod(0o755)
    (hooks / "b.sh").chmod(0o755)
    env = {"PATH": os.environ["PATH"], "HOME": str(repo / "home")}
    proc = subprocess.run(
        ["bash", str(repo / DISPATCHER), "on-test"],
        input='{"x":1}',
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0
    assert proc.stdout == 'a:{"x":1}:on-test\n'
    assert proc.stderr == "per-repo:a.sh:success\nper-repo:b.sh:failed:4\n"


# -- the installed hook script ------------------------------------------------------------------


def fake_python(tmp_path: Path) -> Path:
    """An executable standing in for python: records its argv and stdin."""
    script = tmp_path / "fake-python"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {tmp_path}/argv\n'
        f"cat > {tmp_path}/stdin\n"
        'echo \'{"action":"none","count":0}\'\n'
    )
    script.chmod(0o755)
    return script


def run_hook_script(repo: Path, stdin: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / HOOK)],
        input=stdin,
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        check=False,
        timeout=30,
    )


def test_hook_script_skips_python_without_pending(repo: Path, tmp_path: Path) -> None:
    """The first on-iteration-start call (no pending) exits at once without starting python."""
    python = fake_python(tmp_path)
    install.install(repo, python=str(python), env={})
    proc = run_hook_script(repo, '{"runId":"r1","iteration":1,"hookType":"on-iteration-start"}')
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert not (tmp_path / "argv").exists()


def test_hook_script_hands_the_payload_to_the_plugin(repo: Path, tmp_path: Path) -> None:
    """With pending actions, the script runs python -m babysit_plugin hook --repo REPO."""
    python = fake_python(tmp_path)
    install.install(repo, python=str(python), env={})
    payload = '{"runId":"r1","iteration":1,"status":"waiting","pending":[{"effectId":"e1"}]}'
    proc = run_hook_script(repo, payload)
    assert proc.returncode == 0
    assert proc.stdout == '{"action":"none","count":0}\n'
    assert (tmp_path / "argv").read_text().splitlines() == [
        "-m",
        "babysit_plugin",
        "hook",
        "--repo",
        str(repo),
    ]
    assert (tmp_path / "stdin").read_text() == payload + "\n"


def test_hook_script_reads_hook_payload_when_stdin_is_empty(repo: Path, tmp_path: Path) -> None:
    """An empty stdin falls back to $HOOK_PAYLOAD."""
    python = fake_python(tmp_path)
    install.install(repo, python=str(python), env={})
    payload = '{"runId":"r1","status":"waiting","pending":[{"effectId":"e1"}]}'
    proc = run_hook_script(repo, "", HOOK_PAYLOAD=payload)
    assert proc.returncode == 0
    assert (tmp_path / "stdin").read_text() == payload + "\n"


def test_hook_script_with_a_vanished_python_is_harmless(repo: Path, tmp_path: Path) -> None:
    """If the interpreter is gone, the hook says so on stderr and decides nothing."""
    install.install(repo, python=str(tmp_path / "gone" / "python"), env={})
    proc = run_hook_script(repo, '{"runId":"r1","pending":[{"effectId":"e1"}]}')
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr == (
        f"babysit-plugin hook: {tmp_path / 'gone' / 'python'} is not there any more; run "
        "'babysit-plugin install' again from the environment that has babysit-plugin\n"
    )


# -- the command line ---------------------------------------------------------------------------


def test_cli_install_prints_one_line_per_file(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`babysit-plugin install REPO` prints each file and the dispatcher finding."""
    monkeypatch.delenv("CLAUDE_PLUGIN_ROOT", raising=False)
    assert main(["install", str(repo), "--with-dispatcher"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        f"created         {HOOK}",
        f"created         {SKILL}",
        f"created         {DISPATCHER}",
    ]
    assert out[3] == f"hook dispatcher: {repo / DISPATCHER} (found walking up from the repository)."
    assert main(["install", str(repo), "--uninstall"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"removed         {HOOK}",
        f"removed         {DISPATCHER}",
        f"removed         {SKILL}",
    ]


def test_cli_conflict_is_exit_1_with_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A conflict exits 1 with the one-line error on stderr."""
    (repo / HOOK).parent.mkdir(parents=True)
    (repo / HOOK).write_text("mine\n")
    assert main(["install", str(repo)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"babysit-plugin: error: {repo / HOOK}: exists and was not written by babysit-plugin; "
        "move it away or pass --force; nothing was written\n"
    )


def test_installed_hook_runs_the_real_plugin(repo: Path, tmp_path: Path) -> None:
    """The installed hook, run as the dispatcher runs it, reaches this installation."""
    install.install(repo, env={})
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    started = time.monotonic()
    payload = json.dumps({"runId": "r1", "iteration": 1, "status": "waiting", "pending": []})
    proc = run_hook_script(repo, payload.replace("[]", '[{"effectId": "e1"}]'), **env)
    assert time.monotonic() - started < 20
    assert proc.stdout == '{"action":"none","count":0}\n', proc.stderr
    assert proc.stderr == (
        "babysit-plugin hook: run r1: left e1 (unknown) for the skill: not part of a "
        "parallel group\n"
    )
