"""Claims and saved outcomes: exclusive, taken over only from the dead, crash-proof files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import attrs

from babysit_plugin.runloop.store import Claim, ClaimRefused, PluginStore, SavedOutcome

REPO = Path(__file__).resolve().parents[2]


def _store(tmp_path: Path) -> PluginStore:
    store = PluginStore(tmp_path / "run")
    (tmp_path / "run").mkdir()
    store.ensure()
    return store


def _write_claim(store: PluginStore, effect_id: str, pid: int, host: str | None = None) -> None:
    (store.claims_dir / f"{effect_id}.json").write_text(
        json.dumps(
            {
                "effectId": effect_id,
                "pid": pid,
                "host": host or socket.gethostname(),
                "startedAt": "2026-01-01T00:00:00.000Z",
                "token": "other",
            }
        )
    )


def test_state_dir_is_git_ignored(tmp_path: Path) -> None:
    """ensure() creates the state directory with a .gitignore of '*'."""
    store = _store(tmp_path)
    assert (store.root / ".gitignore").read_text() == "*\n"
    assert store.root.name == ".babysit-plugin"


def test_claim_is_exclusive_within_a_process(tmp_path: Path) -> None:
    """A second claim of a claimed effect is refused, naming this process."""
    store = _store(tmp_path)
    first = store.claim("E1")
    assert isinstance(first, Claim)
    second = store.claim("E1")
    assert isinstance(second, ClaimRefused)
    assert second.reason == f"claimed by pid {os.getpid()}"
    record = json.loads(first.path.read_text())
    assert (record["effectId"], record["pid"], record["token"]) == ("E1", os.getpid(), first.token)
    assert store.attempt_dir(first).is_dir()


def test_release_frees_the_claim(tmp_path: Path) -> None:
    """After release the effect can be claimed again; releasing twice is harmless."""
    store = _store(tmp_path)
    first = store.claim("E1")
    assert isinstance(first, Claim)
    store.release(first)
    store.release(first)
    assert isinstance(store.claim("E1"), Claim)


def test_release_never_removes_someone_elses_claim(tmp_path: Path) -> None:
    """A stale Claim object cannot delete the claim that replaced it."""
    store = _store(tmp_path)
    mine = store.claim("E1")
    assert isinstance(mine, Claim)
    _write_claim(store, "E1", os.getppid())
    store.release(mine)
    assert json.loads(mine.path.read_text())["token"] == "other"


def test_dead_owner_is_taken_over(tmp_path: Path) -> None:
    """A claim whose pid no longer exists on this host is replaced, and says whose it was."""
    store = _store(tmp_path)
    _write_claim(store, "E1", 999_999_999)
    got = store.claim("E1")
    assert isinstance(got, Claim)
    assert got.taken_over is not None
    assert got.taken_over.pid == 999_999_999


def test_other_hosts_claims_are_respected(tmp_path: Path) -> None:
    """A claim from another host is never judged dead from here."""
    store = _store(tmp_path)
    _write_claim(store, "E1", 999_999_999, host="elsewhere")
    got = store.claim("E1")
    assert isinstance(got, ClaimRefused)
    assert got.reason == "claimed by pid 999999999 on host elsewhere"


def test_reused_pid_does_not_keep_a_claim(tmp_path: Path) -> None:
    """A live pid with a different kernel start time is someone else: the claim is stale."""
    store = _store(tmp_path)
    path = store.claims_dir / "E1.json"
    record = {
        "effectId": "E1",
        "pid": os.getppid(),
        "host": socket.gethostname(),
        "startedAt": "2026-01-01T00:00:00.000Z",
        "token": "old",
        "procStart": 1,
    }
    path.write_text(json.dumps(record))
    assert isinstance(store.claim("E1"), Claim)


def test_unreadable_claim_file_is_replaced(tmp_path: Path) -> None:
    """A claim file that is not a claim (never written whole by us) does not block."""
    store = _store(tmp_path)
    (store.claims_dir / "E1.json").write_text("")
    assert isinstance(store.claim("E1"), Claim)


def test_two_processes_claim_each_effect_once(tmp_path: Path) -> None:
    """Racing processes claiming the same 40 effects never both get one."""
    store = _store(tmp_path)
    ids = [f"E{i:02d}" for i in range(40)]
    _write_claim(store, "E00", 999_999_999)
    code = (
        "import sys, json; from pathlib import Path;"
        "from babysit_plugin.runloop.store import PluginStore, Claim;"
        "s = PluginStore(Path(sys.argv[1]));"
        "got = [e for e in sys.argv[2:] if isinstance(s.claim(e), Claim)];"
        "print(json.dumps(got), flush=True);"
        "sys.stdin.read()"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(store.run_path), *ids],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    # Each stays alive (holding its claims) until all have reported.
    won = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
    for p in procs:
        p.communicate(timeout=60)
    claimed = [e for got in won for e in got]
    assert sorted(claimed) == ids


def test_outcome_round_trip(tmp_path: Path) -> None:
    """A saved outcome reads back equal, with its save time stamped."""
    store = _store(tmp_path)
    outcome = SavedOutcome(
        effect_id="E1",
        status="error",
        error={"name": "Error", "message": "boom", "data": {"exitCode": 2}},
        stdout_file="logs/E1/t/stdout.log",
        started_at="2026-01-01T00:00:00.000Z",
        finished_at="2026-01-01T00:00:01.000Z",
        invocation_key="k",
        token="t",
    )
    store.save_outcome(outcome)
    loaded = store.load_outcome("E1")
    assert loaded is not None
    assert loaded.saved_at is not None
    assert loaded == attrs.evolve(outcome, saved_at=loaded.saved_at)
    assert store.saved_outcome_ids() == ["E1"]
    assert [p.name for p in store.outcomes_dir.iterdir()] == ["E1.json"]


def test_null_value_is_kept_apart_from_no_value(tmp_path: Path) -> None:
    """An ok outcome whose value is JSON null keeps has_value."""
    store = _store(tmp_path)
    store.save_outcome(SavedOutcome(effect_id="E1", status="ok", value=None, has_value=True))
    loaded = store.load_outcome("E1")
    assert loaded is not None
    assert (loaded.has_value, loaded.value) == (True, None)


def test_forget_resolved_keeps_live_attempts(tmp_path: Path) -> None:
    """Housekeeping drops resolved effects' state and abandoned attempts, not live ones."""
    store = _store(tmp_path)
    live = store.claim("P1")
    assert isinstance(live, Claim)
    (store.logs_dir / "P1" / "abandoned").mkdir(parents=True)
    (store.logs_dir / "R1" / "x").mkdir(parents=True)
    store.save_outcome(SavedOutcome(effect_id="R1", status="ok", value=1, has_value=True))
    dropped = store.forget_resolved(lambda eid: eid.startswith("P"))
    assert dropped == ["R1"]
    assert sorted(p.name for p in (store.logs_dir / "P1").iterdir()) == [live.token]
    assert store.saved_outcome_ids() == []
