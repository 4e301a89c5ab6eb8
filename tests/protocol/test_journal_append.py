"""The appender writes the SDK's bytes with seqs and ULIDs that keep the journal valid."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from kit import T0, RunBuilder, ulid_at

from protocol import (
    JournalCorruptError,
    append_event,
    atomic_write,
    dumps,
    iso_from_ms,
    open_run,
    read_journal,
)
from protocol.ulid import decode_ulid, encode_ulid, next_ulid


def _zero_entropy(n: int) -> bytes:
    return bytes(n)


def test_appended_bytes_are_the_sdks(tmp_path: Path) -> None:
    """File name, content and checksum are what appendEvent writes."""
    rb = RunBuilder(tmp_path)
    run = open_run(rb.path)
    now = T0 + 10_000
    data = {"effectId": "E", "status": "ok", "z": 1.5, "a": "é\u2028"}
    appended = append_event(
        run, read_journal(run), "EFFECT_RESOLVED", data, clock=lambda: now, entropy=_zero_entropy
    )
    ulid = encode_ulid(now, 0)
    assert appended.seq == 2
    assert appended.ulid == ulid
    assert appended.filename == f"000002.{ulid}.json"
    recorded_at = iso_from_ms(now)
    body = (
        "{\n"
        '  "type": "EFFECT_RESOLVED",\n'
        f'  "recordedAt": "{recorded_at}",\n'
        '  "data": {\n'
        '    "effectId": "E",\n'
        '    "status": "ok",\n'
        '    "z": 1.5,\n'
        '    "a": "é\u2028"\n'
        "  }"
    )
    checksum = hashlib.sha256((body + "\n}\n").encode("utf-8")).hexdigest()
    assert appended.checksum == checksum
    written = (rb.path / "journal" / appended.filename).read_text(encoding="utf-8")
    assert written == body + f',\n  "checksum": "{checksum}"\n}}\n'
    assert recorded_at == "2023-11-14T22:13:30.000Z"


def test_clock_going_backwards_keeps_ulids_increasing(tmp_path: Path) -> None:
    """A clock that steps back still yields strictly increasing ULIDs and a valid journal."""
    rb = RunBuilder(tmp_path)
    run = open_run(rb.path)
    times = iter([T0 + 50, T0 + 40, T0 + 40, T0 + 10, T0 + 60])
    ulids = []
    for _ in range(5):
        appended = append_event(
            run, read_journal(run), "NOTE", {}, clock=lambda: next(times), entropy=os.urandom
        )
        ulids.append(appended.ulid)
    assert ulids == sorted(ulids)
    assert len(set(ulids)) == 5
    assert [decode_ulid(u)[0] for u in ulids] == [T0 + 50] * 4 + [T0 + 60]
    journal = read_journal(run)
    assert [e.seq for e in journal.events] == [1, 2, 3, 4, 5, 6]


def test_same_millisecond_increments_random_part(tmp_path: Path) -> None:
    """Appends in one millisecond add one to the random part of the last ULID."""
    rb = RunBuilder(tmp_path)
    run = open_run(rb.path)
    last_time, last_rand = decode_ulid(ulid_at(1))
    appended = append_event(run, read_journal(run), "NOTE", {}, clock=lambda: last_time)
    assert appended.ulid == encode_ulid(last_time, last_rand + 1)


def test_next_ulid_rules() -> None:
    """Fresh time gets fresh randomness; a full random part moves to the next millisecond."""
    assert next_ulid(5, entropy=_zero_entropy) == encode_ulid(5, 0)
    assert next_ulid(9, encode_ulid(5, 7), entropy=_zero_entropy) == encode_ulid(9, 0)
    assert next_ulid(3, encode_ulid(5, 7)) == encode_ulid(5, 8)
    full = encode_ulid(5, (1 << 80) - 1)
    assert next_ulid(5, full, entropy=_zero_entropy) == encode_ulid(6, 0)
    with pytest.raises(ValueError, match="not a canonical ULID"):
        next_ulid(5, "01abc")


def test_harness_is_prepended(tmp_path: Path) -> None:
    """With run.json harness, data becomes {harness, ...data}, unless data has harness."""
    rb = RunBuilder(tmp_path, harness="claude-code")
    run = open_run(rb.path)
    first = append_event(run, read_journal(run), "NOTE", {"a": 1})
    second = append_event(run, read_journal(run), "NOTE", {"a": 1, "harness": None})
    text = first.path.read_text()
    assert '"data": {\n    "harness": "claude-code",\n    "a": 1\n  }' in text
    assert '"data": {\n    "a": 1,\n    "harness": null\n  }' in second.path.read_text()


@pytest.mark.parametrize("harness", ["", " \u00a0\ufeff\n", 7])
def test_blank_or_odd_harness_is_not_prepended(tmp_path: Path, harness: object) -> None:
    """A blank (JS trim) or non-string harness is ignored, as readRunHarness does."""
    rb = RunBuilder(tmp_path)
    meta = (rb.path / "run.json").read_text()
    (rb.path / "run.json").write_text(
        meta.replace('"runId"', f'"harness": {dumps(harness)},\n  "runId"', 1)
    )
    run = open_run(rb.path)
    appended = append_event(run, read_journal(run), "NOTE", {"a": 1})
    assert '"data": {\n    "a": 1\n  }' in appended.path.read_text()


def test_non_canonical_last_ulid_is_refused(tmp_path: Path) -> None:
    """When no ULID can sort after the last one, the append is refused and nothing written."""
    rb = RunBuilder(tmp_path)
    rb.event("NOTE", {}, ulid="ZZZZ")
    run = open_run(rb.path)
    before = sorted(os.listdir(rb.path / "journal"))
    with pytest.raises(JournalCorruptError) as info:
        append_event(run, read_journal(run), "NOTE", {})
    assert str(info.value) == (
        "journal/000002.ZZZZ.json: expected a canonical ULID in the last file name, found "
        "'ZZZZ' — no new ULID can sort after it; run `babysitter run:repair-journal "
        f"{rb.path}`"
    )
    assert sorted(os.listdir(rb.path / "journal")) == before


def test_atomic_write_temp_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temp file neither ends in .json nor starts with a digit, and is gone afterwards."""
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "journal" / "000001.X.json"
    atomic_write(target, "text\ud800")
    assert target.read_bytes() == "text\ufffd".encode()
    assert len(seen) == 1
    assert seen[0].startswith(".000001.X.json.")
    assert seen[0].endswith(".tmp")
    assert os.listdir(tmp_path / "journal") == ["000001.X.json"]
