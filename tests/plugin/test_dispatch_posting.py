"""The dispatcher's poster: results handed over together share one lock hold (group commit),
a lone result is committed at once, and a failed commit reaches every waiter."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import gevent
import gevent.event
import kit
import pytest
from kit import RunDir, make_run, shell

from babysit_plugin.runloop.dispatch import DispatchOptions, DispatchReport, _Dispatcher
from protocol.errors import LockTimeoutError
from protocol.journal import open_run, read_journal
from protocol.models import PostReceipt, ResultInput
from protocol.results import prepare_result
from protocol.verify import verify_run

pytestmark = pytest.mark.usefixtures("each_line")


def _dispatcher(rd: RunDir, lock_timeout: float = 10.0) -> _Dispatcher:
    run = open_run(rd.path)
    options = DispatchOptions(lock_timeout=lock_timeout)
    return _Dispatcher(run, options, DispatchReport(run_dir=run.path))


def _temps(root: Path) -> list[str]:
    return sorted(p for p in kit.snapshot(root) if p.endswith(".tmp"))


def test_results_handed_over_together_are_committed_in_one_lock_hold(tmp_path: Path) -> None:
    """16 results queued while the poster has not yet run go into one commit."""
    rd = make_run(tmp_path, [shell("true") for _ in range(16)])
    d = _dispatcher(rd)
    prepared = [
        prepare_result(d.run, eid, ResultInput(status="ok", value=n))
        for n, eid in enumerate(rd.effect_ids)
    ]
    waiters = [gevent.spawn(d.poster.commit, p) for p in prepared]
    gevent.joinall(waiters, raise_error=True)
    assert d.poster.batches == [16]
    receipts = [w.value for w in waiters]
    assert all(isinstance(r, PostReceipt) for r in receipts)
    assert [r.effect_id for r in receipts] == rd.effect_ids
    journal = read_journal(d.run)
    assert all(journal.effects[e].status == "ok" for e in rd.effect_ids)
    assert [rd.result(e)["value"] for e in rd.effect_ids] == list(range(16))
    assert verify_run(rd.path).problems == ()
    d.poster.close()


def test_results_posted_one_after_another_are_each_committed(tmp_path: Path) -> None:
    """A result handed over just after the previous commit returned (as recovery does, one
    saved outcome after another) is committed too, never left waiting."""
    rd = make_run(tmp_path, [shell("true") for _ in range(12)])
    d = _dispatcher(rd)
    prepared = [
        prepare_result(d.run, eid, ResultInput(status="ok", value=n))
        for n, eid in enumerate(rd.effect_ids)
    ]
    with gevent.Timeout(10):
        for p in prepared:
            # Handed over the instant the previous commit returns, while the poster winds down.
            assert isinstance(d.poster.commit(p), PostReceipt)
    assert d.poster.batches == [1] * 12
    assert all(rd.status(e) == "ok" for e in rd.effect_ids)
    d.poster.close()


def test_a_lone_result_is_committed_at_once(tmp_path: Path) -> None:
    """One result is committed alone, without waiting for others to join it."""
    rd = make_run(tmp_path, [shell("true"), shell("true")])
    d = _dispatcher(rd)
    first = prepare_result(d.run, rd.effect_ids[0], ResultInput(status="ok", value="a"))
    receipt = d.poster.commit(first)
    assert isinstance(receipt, PostReceipt)
    assert d.poster.batches == [1]
    assert rd.status(rd.effect_ids[0]) == "ok"
    assert rd.status(rd.effect_ids[1]) == "requested"
    d.poster.close()


def test_a_commit_that_fails_reaches_every_waiter_and_writes_nothing(tmp_path: Path) -> None:
    """With run.lock held by a live process past the timeout, each waiter of the batch gets
    the LockTimeoutError and the run is left byte for byte as it was."""
    rd = make_run(tmp_path, [shell("true") for _ in range(3)])
    d = _dispatcher(rd, lock_timeout=0.05)
    lock = rd.path / "run.lock"
    lock.write_text(json.dumps({"pid": os.getppid(), "owner": "x", "acquiredAt": "t"}) + "\n")
    before = kit.snapshot(rd.path)
    prepared = [prepare_result(d.run, e, ResultInput(status="ok", value=1)) for e in rd.effect_ids]
    waiters = [gevent.spawn(d.poster.commit, p) for p in prepared]
    gevent.joinall(waiters)
    assert [type(w.exception) for w in waiters] == [LockTimeoutError] * 3
    assert d.poster.batches == [3]
    assert kit.snapshot(rd.path) == before
    assert _temps(rd.path) == []
    d.poster.close()


def test_a_run_lock_held_by_another_process_makes_commits_rarer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once run.lock was found held by someone else, commits are CONTENDED_GAP apart."""
    from babysit_plugin.runloop.poster import CONTENDED_GAP

    rd = make_run(tmp_path, [shell("true") for _ in range(3)])
    d = _dispatcher(rd)
    # Another process's lock (pid 1 is alive), released by a greenlet once we waited on it.
    lock = rd.path / "run.lock"
    lock.write_text(json.dumps({"pid": 1, "owner": "run:iterate", "acquiredAt": "x"}) + "\n")
    seen = gevent.event.Event()
    record = d.poster.contended

    def contended(holder: str) -> None:
        record(holder)
        seen.set()

    monkeypatch.setattr(d.poster, "contended", contended)

    def release() -> None:
        seen.wait()
        os.unlink(lock)

    gevent.spawn(release)
    ends: list[float] = []
    for eid in rd.effect_ids:
        prepared = prepare_result(d.run, eid, ResultInput(status="ok", value=eid))
        assert isinstance(d.poster.commit(prepared), PostReceipt)
        ends.append(d.poster.last_commit_end)
    assert seen.is_set()
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert all(gap >= CONTENDED_GAP * 0.99 for gap in gaps), gaps
    assert verify_run(rd.path).problems == ()
    d.poster.close()


def test_commits_are_not_spaced_without_contention(tmp_path: Path) -> None:
    """With nobody else on the run lock, commits are never marked contended (no spacing)."""
    rd = make_run(tmp_path, [shell("true") for _ in range(3)])
    d = _dispatcher(rd)
    ends: list[float] = []
    for eid in rd.effect_ids:
        prepared = prepare_result(d.run, eid, ResultInput(status="ok", value=eid))
        assert isinstance(d.poster.commit(prepared), PostReceipt)
        ends.append(d.poster.last_commit_end)
    assert d.poster.contended_until == 0.0
    assert len(ends) == 3
    d.poster.close()
