"""post_results commits several results in one lock hold: same bytes as one at a time,
refusals per result, nothing left behind by a refusal, exactly once between racing posters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest
from kit import RunBuilder, iso_at, snapshot
from kit.handmade import is6

import protocol.journal
from protocol import (
    AlreadyResolvedError,
    InvalidValueError,
    JournalReader,
    LockOptions,
    LockTimeoutError,
    PostReceipt,
    ResultInput,
    UnknownEffectError,
    commit_results,
    open_run,
    post_result,
    post_results,
    prepare_result,
    read_journal,
    sweep_temps,
    verify_run,
)
from protocol.clock import Clock, iso_from_ms, system_ms
from protocol.results import BLOB_THRESHOLD_BYTES
from protocol.ulid import next_ulid

pytestmark = pytest.mark.usefixtures("each_line")

A = "01EFFECTAAAAAAAAAAAAAAAAAA"
B = "01EFFECTBBBBBBBBBBBBBBBBBB"
C = "01EFFECTCCCCCCCCCCCCCCCCCC"
T = 1_800_000_000_000
REPO = Path(__file__).resolve().parents[2]


def clock_at(ms: int) -> Clock:
    return lambda: ms


@pytest.fixture
def rb(tmp_path: Path) -> RunBuilder:
    rb = RunBuilder(tmp_path / "one")
    for effect_id in (A, B, C):
        # Agent effects: 6.x posts a shell effect's error as an ok value.
        rb.request(effect_id, kind="agent")
    return rb


def temps(root: Path) -> list[str]:
    """Every temp file left under ``root``."""
    return sorted(p for p in snapshot(root) if p.endswith(".tmp"))


def events(root: Path) -> list[dict[str, object]]:
    """The journal's event bodies, in seq order."""
    return [
        json.loads((root / "journal" / name).read_text())
        for name in sorted(os.listdir(root / "journal"))
        if name.endswith(".json")
    ]


def test_batch_writes_the_bytes_of_posts_one_at_a_time(tmp_path: Path) -> None:
    """result.json, logs and events of a batch equal those of the same posts one by one."""
    runs = []
    for name in ("batch", "single"):
        rb = RunBuilder(tmp_path / name)
        rb.request(A)
        rb.request(B)
        runs.append(rb)
    items = [
        (A, ResultInput(status="ok", value={"b": 1, "a": [2]}, stdout="out\n")),
        (B, ResultInput(status="error", stderr="err\n", started_at=iso_at(5))),
    ]
    batch = post_results(open_run(runs[0].path), items, clock=clock_at(T))
    single = [post_result(open_run(runs[1].path), e, r, clock=clock_at(T)) for e, r in items]
    assert [(r.effect_id, r.seq, r.recorded_at) for r in batch if isinstance(r, PostReceipt)] == [
        (r.effect_id, r.seq, r.recorded_at) for r in single
    ]
    for rel in (f"tasks/{A}/result.json", f"tasks/{A}/stdout.log", f"tasks/{B}/stderr.log"):
        assert (runs[0].path / rel).read_bytes() == (runs[1].path / rel).read_bytes()
    assert events(runs[0].path) == events(runs[1].path)
    assert verify_run(runs[0].path).problems == ()


def test_mixed_batch_commits_the_good_and_returns_each_refusal(rb: RunBuilder) -> None:
    """One batch: two commits, an unknown effect, a repeated effect and bad input refused."""
    rb.resolve(C)
    run = open_run(rb.path)
    out = post_results(
        run,
        [
            (A, ResultInput(status="ok", value="a")),
            ("01NOSUCHEFFECTXXXXXXXXXXXX", ResultInput(status="ok", value=1)),
            (A, ResultInput(status="ok", value="again")),
            (C, ResultInput(status="ok", value="late")),
            (B, ResultInput(status="ok")),
            (B, ResultInput(status="error")),
        ],
        clock=clock_at(T),
    )
    assert [type(o).__name__ for o in out] == [
        "PostReceipt",
        "UnknownEffectError",
        "AlreadyResolvedError",
        "AlreadyResolvedError",
        "InvalidValueError",
        "PostReceipt",
    ]
    first, repeated = out[0], out[2]
    assert isinstance(first, PostReceipt)
    assert isinstance(repeated, AlreadyResolvedError)
    where = rb.path / "journal" / f"{first.seq:06d}.{first.ulid}.json"
    assert str(repeated) == (
        f"{where}: expected effect {A} to be pending, found it resolved by an earlier result "
        "of the same batch — nothing was written for this one; post each effect once"
    )
    assert isinstance(out[1], UnknownEffectError)
    assert isinstance(out[3], AlreadyResolvedError)
    assert isinstance(out[4], InvalidValueError)
    last = out[5]
    assert isinstance(last, PostReceipt)
    assert (first.seq, last.seq) == (6, 7)
    assert json.loads((rb.path / "tasks" / A / "result.json").read_text())["value"] == "a"
    assert json.loads((rb.path / "tasks" / B / "result.json").read_text())["status"] == "error"
    journal = read_journal(run)
    assert [journal.effects[e].status for e in (A, B, C)] == ["ok", "error", "ok"]
    assert temps(rb.path) == []
    assert verify_run(rb.path).problems == ()


def test_refused_at_commit_removes_its_temps_and_leaves_the_run_as_the_winner_left_it(
    rb: RunBuilder,
) -> None:
    """Prepared, then resolved by another post before the commit: the commit refuses it,
    deletes its temp files, and result.json keeps the winner's value."""
    run = open_run(rb.path)
    loser = prepare_result(run, A, ResultInput(status="ok", value="loser", stdout="big\n"))
    assert len(temps(rb.path)) == 3  # stdout.log, result.json, the event
    post_result(run, A, ResultInput(status="ok", value="winner"))
    after_winner = {k: v for k, v in snapshot(rb.path).items() if not k.endswith(".tmp")}
    (out,) = commit_results(run, [loser])
    assert isinstance(out, AlreadyResolvedError)
    assert snapshot(rb.path) == after_winner
    assert json.loads((rb.path / "tasks" / A / "result.json").read_text())["value"] == "winner"
    assert not (rb.path / "tasks" / A / "stdout.log").exists()


def test_refused_prepare_and_lock_timeout_leave_the_run_unchanged(rb: RunBuilder) -> None:
    """A refusal before the lock and a lock timeout at commit change no byte of the run."""
    run = open_run(rb.path)
    rb.resolve(C)
    before = snapshot(rb.path)
    with pytest.raises(AlreadyResolvedError):
        prepare_result(run, C, ResultInput(status="ok", value=1))
    prepared = [
        prepare_result(run, e, ResultInput(status="ok", value=1, stdout="x")) for e in (A, B)
    ]
    (rb.path / "run.lock").write_text(
        json.dumps({"pid": os.getppid(), "owner": "x", "acquiredAt": "t"}, indent=2) + "\n"
    )
    with pytest.raises(LockTimeoutError):
        commit_results(run, prepared, lock=LockOptions(timeout=0.05, sleep=lambda s: None))
    (rb.path / "run.lock").unlink()
    assert snapshot(rb.path) == before


def test_events_keep_their_prepared_time_and_follow_it_within_a_batch(
    rb: RunBuilder,
) -> None:
    """Seqs follow recordedAt within a batch; an event prepared before the journal's last
    one keeps its recordedAt and still gets a greater ULID; the run stays valid."""
    run = open_run(rb.path)
    late = prepare_result(run, A, ResultInput(status="ok", value=1), clock=clock_at(T + 20))
    early = prepare_result(run, B, ResultInput(status="ok", value=2), clock=clock_at(T + 10))
    older = prepare_result(run, C, ResultInput(status="ok", value=3), clock=clock_at(T + 5))
    a, b = commit_results(run, [late, early])
    assert isinstance(a, PostReceipt)
    assert isinstance(b, PostReceipt)
    assert (b.seq, a.seq) == (5, 6)
    assert (b.recorded_at, a.recorded_at) == (iso_from_ms(T + 10), iso_from_ms(T + 20))
    (c,) = commit_results(run, [older])
    assert isinstance(c, PostReceipt)
    assert (c.seq, c.recorded_at) == (7, iso_from_ms(T + 5))
    assert c.ulid > a.ulid
    assert events(rb.path)[-1]["recordedAt"] == iso_from_ms(T + 5)
    assert temps(rb.path) == []
    assert verify_run(rb.path).problems == ()


def test_event_prepared_before_the_run_got_a_harness_is_rewritten(rb: RunBuilder) -> None:
    """The harness is read again under the lock: an event prepared without it gets it."""
    run = open_run(rb.path)
    prepared = prepare_result(run, A, ResultInput(status="ok", value=1))
    meta = json.loads((rb.path / "run.json").read_text())
    (rb.path / "run.json").write_text(json.dumps({**meta, "harness": "codex"}, indent=2) + "\n")
    (out,) = commit_results(run, [prepared])
    assert isinstance(out, PostReceipt)
    body = events(rb.path)[-1]
    if is6(rb.sdk_version):  # 6.x: eventData.harness = ... after the event's own fields
        assert list(body["data"])[-1] == "harness"
    else:
        assert list(body["data"])[:2] == ["harness", "effectId"]
    assert body["data"]["harness"] == "codex"
    assert temps(rb.path) == []
    assert verify_run(rb.path).problems == ()


def test_result_prepared_from_an_outdated_record_is_rewritten(rb: RunBuilder) -> None:
    """A result prepared against a journal whose record differs gets the journal's taskId."""
    run = open_run(rb.path)
    journal = read_journal(run)
    record = attrs.evolve(journal.effects[A], task_id="t-stale", invocation_key="k-stale")
    outdated = attrs.evolve(journal, effects={**journal.effects, A: record})
    prepared = prepare_result(run, A, ResultInput(status="ok", value=1), journal=outdated)
    (out,) = commit_results(run, [prepared])
    assert isinstance(out, PostReceipt)
    written = json.loads((rb.path / "tasks" / A / "result.json").read_text())
    assert (written["taskId"], written["invocationKey"]) == (f"t-{A}", f"proc:S000002:t-{A}")
    assert temps(rb.path) == []
    assert verify_run(rb.path).problems == ()


def test_sweep_removes_temps_of_dead_processes_only(rb: RunBuilder) -> None:
    """Temp files of a process that died are swept; those of a live one are kept."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    names = {
        f"journal/.EFFECT_RESOLVED.0123456789ab.p{dead_pid}.tmp": True,
        f"tasks/{A}/.result.json.0123456789ab.p{dead_pid}.tmp": True,
        f"tasks/{A}/.result.json.0123456789ab.p{os.getpid()}.tmp": False,
        f"tasks/{A}/.result.json.tmp": False,
    }
    for rel in names:
        (rb.path / rel).write_text("partial")
    removed = sweep_temps(open_run(rb.path))
    assert sorted(p.relative_to(rb.path).as_posix() for p in removed) == sorted(
        rel for rel, gone in names.items() if gone
    )
    assert [(rb.path / rel).exists() for rel in names] == [not g for g in names.values()]


def test_journal_reader_reads_only_growth_and_falls_back_on_anything_else(
    rb: RunBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JournalReader matches read_journal after appends (parsing only the new file), after a
    rewrite (parsing everything again), and on corruption (the same error)."""
    run = open_run(rb.path)
    reader = JournalReader(run)
    parsed: list[int] = []
    parse = protocol.journal._parse_files

    def counting(run_path: Path, names: list[str]) -> object:
        parsed.append(len(names))
        return parse(run_path, names)

    monkeypatch.setattr(protocol.journal, "_parse_files", counting)

    def same() -> None:
        got, full = reader.read(), read_journal(run)
        assert (got.head, dict(got.effects), got.entries) == (
            full.head,
            dict(full.effects),
            full.entries,
        )

    same()
    receipt = post_result(run, A, ResultInput(status="ok", value=1))
    parsed.clear()
    same()
    assert parsed == [1, 5]  # the reader: the new event; read_journal: all of them
    # A rewritten file (same name): the last file differs, so everything is read again.
    last = sorted((rb.path / "journal").glob("*.json"))[-1]
    body = json.loads(last.read_text())
    body["data"]["status"] = "error"
    last.write_text(json.dumps(body, indent=2) + "\n")
    parsed.clear()
    same()
    assert parsed == [5, 5]
    assert reader.read().effects[A].status == "error"
    # A new file that breaks a rule: the reader raises what read_journal raises.
    rb.seq = receipt.seq
    rb.event(
        "EFFECT_RESOLVED",
        {"effectId": A, "status": "ok"},
        ulid=next_ulid(system_ms(), receipt.ulid),
    )
    with pytest.raises(protocol.JournalCorruptError) as full_error:
        read_journal(run)
    with pytest.raises(protocol.JournalCorruptError) as reader_error:
        reader.read()
    assert str(reader_error.value) == str(full_error.value)
    assert f"expected one EFFECT_RESOLVED for effect {A}, found a second" in str(full_error.value)


RACER = """
import json, sys
sys.path[:0] = [{repo!r}]
from protocol import LockOptions, PostReceipt, ResultInput, open_run, post_results
run = open_run(sys.argv[1])
ids = sys.argv[3:]
print("ready", flush=True)
sys.stdin.readline()
won = []
for start in range(0, len(ids), 4):
    items = [(e, ResultInput(status="ok", value=sys.argv[2])) for e in ids[start : start + 4]]
    out = post_results(run, items, lock=LockOptions(timeout=60))
    won += [o.effect_id for o in out if isinstance(o, PostReceipt)]
print(json.dumps(won), flush=True)
"""


def test_two_processes_posting_the_same_batch_commit_each_effect_once(tmp_path: Path) -> None:
    """Two processes post the same 24 effects in batches of 4, in opposite orders, at once:
    each effect is resolved once, its result.json holds the value of the process that got
    its receipt, and no temp file is left."""
    rb = RunBuilder(tmp_path)
    ids = [f"01EFFECT{i:018d}" for i in range(24)]
    for effect_id in ids:
        rb.request(effect_id)
    script = RACER.format(repo=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(rb.path), name, *order],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, order in (("left", ids), ("right", ids[::-1]))
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    won = {}
    for proc, name in zip(procs, ("left", "right"), strict=True):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        won[name] = json.loads(out)
    assert sorted(won["left"] + won["right"]) == sorted(ids)
    journal = read_journal(open_run(rb.path))
    assert all(journal.effects[e].status == "ok" for e in ids)
    resolved = [e for e in events(rb.path) if e["type"] == "EFFECT_RESOLVED"]
    assert len(resolved) == len(ids)
    for name, effect_ids in won.items():
        for effect_id in effect_ids:
            result = json.loads((rb.path / "tasks" / effect_id / "result.json").read_text())
            assert result["value"] == name
    assert temps(rb.path) == []
    assert verify_run(rb.path).problems == ()


def test_result_directories_are_synced_after_the_results_and_before_any_event(
    rb: RunBuilder,
) -> None:
    """sync_dirs gets every directory a result was renamed into, once each, when the result
    files are in place and no event of the batch is in journal/ yet."""
    run = open_run(rb.path)
    seen: list[tuple[list[str], bool, int]] = []

    def sync_dirs(directories: Sequence[Path]) -> None:
        in_place = all((rb.path / "tasks" / e / "result.json").exists() for e in (A, B))
        seen.append(
            (
                [d.relative_to(rb.path).as_posix() for d in directories],
                in_place,
                len(read_journal(run).entries),
            )
        )

    items = [
        (A, ResultInput(status="ok", value=1, stdout="a")),
        (B, ResultInput(status="ok", value="x" * (BLOB_THRESHOLD_BYTES + 1))),
    ]
    prepared = [prepare_result(run, e, r) for e, r in items]
    out = commit_results(run, prepared, sync_dirs=sync_dirs)
    assert all(isinstance(o, PostReceipt) for o in out)
    assert seen == [([f"tasks/{A}", f"tasks/{B}/blobs", f"tasks/{B}"], True, 4)]
    assert len(read_journal(run).entries) == 6
