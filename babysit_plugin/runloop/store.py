"""Claims and saved outcomes: the plugin's crash-safety state of one run (the claim records
and the process checks behind them are in :mod:`babysit_plugin.runloop.claims`).

Layout, inside the run directory (the SDK never reads it; git ignores it
through the ``.gitignore`` holding ``*`` that is written with it)::

    <runDir>/.babysit-plugin/
      .gitignore                      "*"
      claims/.mutex                   flock'ed for microseconds around claim changes
      claims/<effectId>.json          {effectId, pid, host, startedAt, token, procStart,
                                       heartbeatS, attempt?}; mtime = last heartbeat
      outcomes/<effectId>.json        a finished effect's result, saved before posting
      logs/<effectId>/<token>/stdout.log, stderr.log   one directory per attempt
      kept/<effectId>/<token>-stdout.log   whole logs too big to post (never cleaned)
      posted.jsonl                    one line per posted effect, for ``status``
      definitions/<effectId>.json     the task definition run:iterate printed, when the
                                      run's task.json lacks it (SDK 0.0.162-0.0.174)

Rules this module keeps:

- **At most one runner per claim.**  An effect is run only by the holder of
  its claim file.  Claims are created exclusively (hard link of a complete
  temp file: a claim file is never seen empty).  A claim whose pid is dead on
  this host (or whose pid now belongs to another process: the kernel start
  time recorded in ``procStart`` differs) is taken over; a live claim, or one
  from another host, is respected.  Every check-then-change of a claim happens
  under ``claims/.mutex`` (``flock``, released by the kernel if the holder
  dies), so two dispatchers can never both take over the same stale claim.
- **Outcomes survive a crash.**  The moment a child returns, its outcome is
  written atomically to ``outcomes/`` before anything is posted; it is deleted
  only after the post succeeded (or was refused because someone else already
  resolved the effect).  A dispatcher that starts finds saved outcomes of
  still-pending effects and posts them without running anything again.
- **Attempt logs are per claim** (``logs/<effectId>/<token>/``), so a child
  orphaned by a killed dispatcher can never write into the logs of the
  attempt that replaced it.
- Every file is written with :func:`protocol.fsutil.atomic_write`.
- **Nothing outside the run.**  Effect ids must be one path component; every
  path is built with :func:`protocol.fsutil.safe_join`, which refuses a
  symlink planted anywhere under the run (``.babysit-plugin`` itself,
  ``claims/``, ``logs/<effectId>`` ...); files are read with ``O_NOFOLLOW``,
  only when regular and at most :data:`READ_LIMIT` bytes.  A refused path
  raises :class:`protocol.UnsafePathError` with one line naming it.
- **Orphans are ended on takeover.**  Children of a dispatcher killed with
  SIGKILL die with it (``PR_SET_PDEATHSIG``, see :mod:`babysit_plugin.runloop.proc`);
  what they started may outlive them, so taking over a dead claim first kills
  every process still carrying that effect's ``BABYSIT_PLUGIN_EFFECT_ID`` and
  ``BABYSIT_PLUGIN_RUN_DIR``.  Such orphans never post: only the claim holder
  posts, and an orphan's files are in its own attempt directory, which the
  next dispatch deletes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import socket
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs

from babysit_plugin.runloop import faults
from babysit_plugin.runloop.claims import (
    _BROKEN,
    Claim,
    ClaimInfo,
    ClaimRefused,
    find_orphans,
    heartbeat_interval,
    kill_orphans,
    pid_alive,
    process_start_ticks,
)
from babysit_plugin.runloop.outcome import SavedOutcome
from protocol import jsonjs
from protocol.errors import ProtocolError, UnsafePathError
from protocol.fsutil import (
    PRIVATE_DIR,
    atomic_write,
    check_effect_id,
    ensure_private_dir,
    open_regular,
    safe_join,
)
from protocol.jsonjs import JsonValue

STATE_DIR_NAME = PRIVATE_DIR

Sleep = Callable[[float], None]

_MUTEX_TIMEOUT = 30.0

#: One line per posted effect (``status`` reads it), under the state directory.
POSTED_FILE = "posted.jsonl"

#: Largest claim or saved-outcome file read (a value is at most 10 MiB of text).
READ_LIMIT = 64 * 1024 * 1024

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class StoreError(ProtocolError):
    """The state directory could not be used (one line, naming the path)."""


def read_regular(path: Path, limit: int = READ_LIMIT) -> bytes:
    return read_regular_stat(path, limit)[0]


def read_regular_stat(path: Path, limit: int = READ_LIMIT) -> tuple[bytes, os.stat_result]:
    """The bytes of ``path`` if it is a plain file (not a symlink) of at most ``limit`` bytes.

    Raises :class:`UnsafePathError` for a symlink, a FIFO, a socket or a device
    (:func:`protocol.fsutil.open_regular`), ``FileNotFoundError`` when it is missing,
    and ``OSError`` (``EFBIG``) when it is too big.
    """
    fd = open_regular(path)
    try:
        st = os.fstat(fd)
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"over {limit} bytes", str(path))
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"over {limit} bytes", str(path))
        return data, st
    finally:
        os.close(fd)


def last_output(paths: Sequence[Path | None], since: float = 0.0) -> float:
    """When the child last wrote to one of its log files: the newest mtime, at least ``since``.

    The child writes its log files itself (nothing of ours sits in between), so the
    kernel's modification time of each file is the time of its last write; a file just
    opened for it has the time it was created.  Cheap (one ``stat`` per file) and true
    even while the dispatcher itself is stopped.
    """
    newest = since
    for path in paths:
        if path is None:
            continue
        try:
            newest = max(newest, os.stat(path).st_mtime)
        except OSError:
            continue
    return newest


class PluginStore:
    """Claims, saved outcomes and attempt logs of one run directory."""

    def __init__(self, run_path: Path, *, sleep: Sleep = time.sleep) -> None:
        self.run_path = Path(run_path)
        self.root = self._safe(STATE_DIR_NAME)
        self.claims_dir = self._safe(f"{STATE_DIR_NAME}/claims")
        self.outcomes_dir = self._safe(f"{STATE_DIR_NAME}/outcomes")
        self.logs_dir = self._safe(f"{STATE_DIR_NAME}/logs")
        self.definitions_dir = self._safe(f"{STATE_DIR_NAME}/definitions")
        self._sleep = sleep
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._proc_start = process_start_ticks(self._pid)
        self._heartbeat = heartbeat_interval()
        #: Claims this process holds, refreshed by :meth:`refresh_held` (the heartbeat).
        self.held: dict[str, Claim] = {}

    # -- layout ---------------------------------------------------------------

    def _safe(self, rel: str) -> Path:
        """``<run>/<rel>``, refusing a symlink on the way (UnsafePathError)."""
        return safe_join(self.run_path, rel, where=f"{self.run_path}/{rel}")

    def ensure(self) -> None:
        """Create the state directory (with its ``.gitignore``) if missing."""
        try:
            ensure_private_dir(self.run_path)
            for name in ("claims", "outcomes", "logs"):
                self._safe(f"{STATE_DIR_NAME}/{name}").mkdir(exist_ok=True)
                self._safe(f"{STATE_DIR_NAME}/{name}")  # a symlink raced in: refuse it
        except OSError as exc:
            raise StoreError(
                f"{self.root}: expected a writable plugin state directory, found "
                f"{exc.strerror or exc} — check the permissions of the run directory"
            ) from exc

    @property
    def heartbeat_s(self) -> float:
        """Seconds between this process's claim refreshes (recorded in its claims)."""
        return self._heartbeat

    def exists(self) -> bool:
        return self.root.is_dir()

    def claim_path(self, effect_id: str) -> Path:
        check_effect_id(effect_id, str(self.claims_dir))
        return self._safe(f"{STATE_DIR_NAME}/claims/{effect_id}.json")

    def outcome_path(self, effect_id: str) -> Path:
        check_effect_id(effect_id, str(self.outcomes_dir))
        return self._safe(f"{STATE_DIR_NAME}/outcomes/{effect_id}.json")

    def effect_logs_dir(self, effect_id: str) -> Path:
        check_effect_id(effect_id, str(self.logs_dir))
        return self._safe(f"{STATE_DIR_NAME}/logs/{effect_id}")

    def attempt_dir(self, claim: Claim) -> Path:
        """The directory holding this attempt's log files."""
        check_effect_id(claim.effect_id, str(self.logs_dir))
        return self._safe(f"{STATE_DIR_NAME}/logs/{claim.effect_id}/{claim.token}")

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def resolve(self, rel: str) -> Path | None:
        """A state-relative path back to a plain file under the state directory, else None."""
        try:
            path = safe_join(self.root, rel, where=f"{self.root}/{rel}")
            return path if stat.S_ISREG(os.lstat(path).st_mode) else None
        except (UnsafePathError, OSError):
            return None

    # -- the claims mutex --------------------------------------------------------

    @contextlib.contextmanager
    def _mutex(self) -> Iterator[None]:
        self.claims_dir.mkdir(parents=True, exist_ok=True)
        mutex = self._safe(f"{STATE_DIR_NAME}/claims/.mutex")
        try:
            fd = os.open(mutex, os.O_RDWR | os.O_CREAT | _NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"{mutex}: expected a lock file the plugin can open, found "
                f"{'a symlink' if exc.errno == errno.ELOOP else exc.strerror or exc} — "
                "remove it",
                str(mutex),
            ) from exc
        try:
            deadline = time.monotonic() + _MUTEX_TIMEOUT
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"{self.claims_dir / '.mutex'}: expected to lock it within "
                            f"{_MUTEX_TIMEOUT:.0f} s, found it held — another dispatcher "
                            "is stuck; stop it and retry"
                        ) from exc
                    self._sleep(delay)
                    delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- claims ---------------------------------------------------------------------

    def read_claim(self, effect_id: str) -> ClaimInfo | None:
        """The recorded claim of an effect; an unreadable claim file reads as None."""
        path = self.claim_path(effect_id)
        try:
            raw, st = read_regular_stat(path, 1 << 16)
            text = raw.decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, UnsafePathError):
            return _BROKEN
        try:
            info = ClaimInfo.from_json(jsonjs.loads(text))
        except ValueError:
            return _BROKEN
        return _BROKEN if info is None else attrs.evolve(info, heartbeat_at=st.st_mtime)

    def claim(self, effect_id: str) -> Claim | ClaimRefused:
        """Claim an effect for this process, taking over a dead owner's claim.

        Taking over first ends the dead attempt's orphans (see the module docstring).
        """
        faults.point("claim:before")
        path = self.claim_path(effect_id)
        info = ClaimInfo(
            effect_id=effect_id,
            pid=self._pid,
            host=self._host,
            started_at=_now_iso(),
            token=uuid.uuid4().hex,
            proc_start=self._proc_start,
            heartbeat_s=self._heartbeat,
        )
        with self._mutex():
            current = self.read_claim(effect_id)
            if current is None:
                self._create_exclusive(path, jsonjs.to_file_text(info.to_json()), info.token)
                claim = Claim(info, path)
            elif current is not _BROKEN and current.is_live():
                return ClaimRefused(effect_id, current)
            else:
                # Dead owner (or a claim file nobody could have written whole):
                # replace it while holding the mutex.
                if current is not _BROKEN:
                    info = attrs.evolve(info, attempt=current.attempt + 1)
                atomic_write(path, jsonjs.to_file_text(info.to_json()))
                claim = Claim(info, path, taken_over=None if current is _BROKEN else current)
            self.held[effect_id] = claim
            # Created under the mutex, so housekeeping never sees it unclaimed.
            self.attempt_dir(claim).mkdir(parents=True, exist_ok=True)
        if claim.taken_over is not None:
            kill_orphans(self.run_path, effect_id)
        faults.point("claim:made")
        return claim

    def _create_exclusive(self, path: Path, text: str, token: str) -> None:
        tmp = path.parent / f".{path.name}.{token}.tmp"
        try:
            # Written whole before it is linked, so never seen empty.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o666)
            try:
                view = memoryview(text.encode("utf-8"))
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        # No fsync: a claim only has to outlive its owner's process, not the machine
        # (after a reboot every recorded pid is dead and the claim is taken over).

    def release(self, claim: Claim) -> None:
        """Give a claim back (no-op if it is no longer ours)."""
        faults.point("claim:releasing")
        if self.held.get(claim.effect_id) == claim:
            del self.held[claim.effect_id]
        with self._mutex():
            current = self.read_claim(claim.effect_id)
            if current is not None and current is not _BROKEN and current.token == claim.token:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(claim.path)

    @contextlib.contextmanager
    def holding(self, claim: Claim) -> Iterator[bool]:
        """Under the claims mutex: whether ``claim`` is still ours (nobody can take it
        over until the block ends)."""
        with self._mutex():
            yield self.still_holds(claim)

    def refresh(self, claim: Claim) -> bool:
        """The heartbeat of one claim: set its file's mtime to now if it is still ours.

        The token is read through the same fd whose times are set, so a claim replaced
        by a takeover is never refreshed (the fd then names the replaced file).  False
        when the claim is no longer ours.
        """
        try:
            fd = open_regular(claim.path)
        except (OSError, UnsafePathError):
            return False
        try:
            raw = os.read(fd, 1 << 16)
            try:
                info = ClaimInfo.from_json(jsonjs.loads(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError):
                return False
            if info is None or info.token != claim.token:
                return False
            os.utime(fd)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def refresh_held(self) -> list[Claim]:
        """Refresh every claim this process holds; return (and forget) the ones lost."""
        lost = [c for c in list(self.held.values()) if not self.refresh(c)]
        for claim in lost:
            if self.held.get(claim.effect_id) == claim:
                del self.held[claim.effect_id]
        return lost

    def still_holds(self, claim: Claim) -> bool:
        current = self.read_claim(claim.effect_id)
        return current is not None and current is not _BROKEN and current.token == claim.token

    def claims(self) -> list[ClaimInfo]:
        """Every readable claim."""
        out: list[ClaimInfo] = []
        for eid in self._ids_in(self.claims_dir):
            info = self.read_claim(eid)
            if info is not None and info is not _BROKEN:
                out.append(info)
        return out

    def claim_ids(self) -> list[str]:
        """Ids of the effects that have a claim file."""
        return self._ids_in(self.claims_dir)

    def drop_claim(self, effect_id: str) -> None:
        """Delete an effect's claim whoever holds it (the effect is resolved)."""
        self.held.pop(effect_id, None)
        with self._mutex(), contextlib.suppress(FileNotFoundError):
            os.unlink(self.claim_path(effect_id))

    # -- outcomes --------------------------------------------------------------------

    def save_outcome(self, outcome: SavedOutcome) -> None:
        """Write an outcome atomically; after this returns it survives a crash."""
        saved = attrs.evolve(outcome, saved_at=outcome.saved_at or _now_iso())
        atomic_write(self.outcome_path(outcome.effect_id), jsonjs.to_file_text(saved.to_json()))
        faults.point("outcome:saved")

    def load_outcome(self, effect_id: str) -> SavedOutcome | None:
        """The saved outcome of an effect, or None (unreadable files read as None).

        A symlink or special file in its place raises :class:`UnsafePathError`.
        """
        try:
            text = read_regular(self.outcome_path(effect_id)).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        try:
            return SavedOutcome.from_json(jsonjs.loads(text))
        except ValueError:
            return None

    def saved_outcome_ids(self) -> list[str]:
        return self._ids_in(self.outcomes_dir)

    def drop_outcome(self, effect_id: str) -> None:
        """Delete a saved outcome and every attempt log of that effect."""
        faults.point("outcome:dropping")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.outcome_path(effect_id))
        self.drop_logs(effect_id)

    # -- task definitions ----------------------------------------------------------

    def definition_path(self, effect_id: str) -> Path:
        check_effect_id(effect_id, str(self.definitions_dir))
        return self._safe(f"{STATE_DIR_NAME}/definitions/{effect_id}.json")

    def save_definition(self, effect_id: str, task: dict[str, JsonValue]) -> bool:
        """Keep the definition ``run:iterate`` printed for a pending effect; True if new."""
        path = self.definition_path(effect_id)
        text = jsonjs.to_file_text(task)
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if read_regular(path).decode("utf-8") == text:
                return False
        self.definitions_dir.mkdir(exist_ok=True)
        self._safe(f"{STATE_DIR_NAME}/definitions")  # a symlink raced in: refuse it
        atomic_write(path, text)
        return True

    def drop_definition(self, effect_id: str) -> None:
        """Delete the kept definition of an effect (it has been posted)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.definition_path(effect_id))

    def load_definition(self, effect_id: str) -> dict[str, JsonValue] | None:
        """The kept definition of an effect, or None (unreadable files read as None)."""
        try:
            data = jsonjs.loads(read_regular(self.definition_path(effect_id)).decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- logs ------------------------------------------------------------------------

    def drop_logs(self, effect_id: str, token: str | None = None) -> None:
        effect_dir = self.effect_logs_dir(effect_id)
        target = effect_dir
        if token is not None:
            check_effect_id(token, str(effect_dir))
            target = self._safe(f"{STATE_DIR_NAME}/logs/{effect_id}/{token}")
        shutil.rmtree(target, ignore_errors=True)
        if token is not None:
            with contextlib.suppress(OSError):
                effect_dir.rmdir()

    # -- what was posted (for ``status``) ------------------------------------------------

    def note_posted(
        self,
        saved: SavedOutcome,
        claim: Claim | None,
        *,
        kind: str | None = None,
        title: str | None = None,
    ) -> None:
        """Append one line to ``posted.jsonl``: this effect's result was committed.

        Informational only (``status`` shows posted effects from it; nothing is decided
        by it), so it is appended without fsync; a line is far below ``PIPE_BUF``, so
        concurrent appends never interleave.
        """
        note: dict[str, JsonValue] = {
            "effectId": saved.effect_id,
            "kind": kind,
            "title": title,
            "status": saved.status,
            "startedAt": saved.started_at,
            "finishedAt": saved.finished_at,
            "postedAt": _now_iso(),
            "pid": self._pid,
            "host": self._host,
        }
        if claim is not None:
            note["attempt"] = claim.info.attempt
        line = jsonjs.dumps({k: v for k, v in note.items() if v is not None}, indent=None)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | os.O_CLOEXEC | _NONBLOCK
        try:
            path = self._safe(f"{STATE_DIR_NAME}/{POSTED_FILE}")
            fd = os.open(path, flags, 0o644)
        except (OSError, UnsafePathError):
            # A symlink or something else planted there: the note is only for `status`,
            # and the result is committed already; never follow it, never fail for it.
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.write(fd, (line + "\n").encode("utf-8"))
        except OSError:
            pass
        finally:
            os.close(fd)

    def posted_notes(self) -> dict[str, dict[str, JsonValue]]:
        """The last ``posted.jsonl`` line of each effect (unreadable lines skipped)."""
        try:
            raw = read_regular(self._safe(f"{STATE_DIR_NAME}/{POSTED_FILE}"))
        except (OSError, UnsafePathError):
            return {}
        notes: dict[str, dict[str, JsonValue]] = {}
        for line in raw.decode("utf-8", errors="replace").splitlines():
            try:
                data = jsonjs.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("effectId"), str):
                notes[str(data["effectId"])] = data
        return notes

    def log_effect_ids(self) -> list[str]:
        try:
            return sorted(p.name for p in self.logs_dir.iterdir() if p.is_dir())
        except OSError:
            return []

    def keep_log(self, claim: Claim, path: Path) -> Path:
        """Move an attempt's log to ``kept/`` (it outlives the attempt); return its new path."""
        check_effect_id(claim.effect_id, str(self.root / "kept"))
        self._safe(f"{STATE_DIR_NAME}/kept/{claim.effect_id}").mkdir(parents=True, exist_ok=True)
        target = self._safe(f"{STATE_DIR_NAME}/kept/{claim.effect_id}/{claim.token}-{path.name}")
        os.replace(path, target)
        return target

    # -- housekeeping ------------------------------------------------------------------

    def _ids_in(self, directory: Path) -> list[str]:
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        return sorted(n[: -len(".json")] for n in names if n.endswith(".json") and n[0] != ".")

    def forget_resolved(self, is_pending: Callable[[str], bool]) -> list[str]:
        """Drop claims, outcomes and logs of effects that are no longer pending.

        Logs of a pending effect are dropped too when nobody holds its claim and
        no outcome refers to them (an abandoned attempt).  Returns the ids whose
        state was dropped.
        """
        dropped: set[str] = set()
        for eid in self._ids_in(self.definitions_dir):
            if not is_pending(eid):
                self.drop_definition(eid)
                dropped.add(eid)
        for eid in self.saved_outcome_ids():
            if not is_pending(eid):
                self.drop_outcome(eid)
                dropped.add(eid)
        for eid in self._ids_in(self.claims_dir):
            if not is_pending(eid):
                self.drop_claim(eid)
                dropped.add(eid)
        for eid in self.log_effect_ids():
            if not is_pending(eid):
                self.drop_logs(eid)
                dropped.add(eid)
                continue
            # Under the mutex: a claim (and its attempt directory) cannot appear
            # while we decide which attempts are abandoned.
            with self._mutex():
                keep: set[str] = set()
                info = self.read_claim(eid)
                if info is not None and info is not _BROKEN and info.is_live():
                    keep.add(info.token)
                outcome = self.load_outcome(eid)
                if outcome is not None and outcome.token is not None:
                    keep.add(outcome.token)
                with contextlib.suppress(OSError):
                    for attempt in self.effect_logs_dir(eid).iterdir():
                        if attempt.name not in keep:
                            shutil.rmtree(attempt, ignore_errors=True)
        return sorted(dropped)


__all__ = [
    "READ_LIMIT",
    "STATE_DIR_NAME",
    "Claim",
    "ClaimInfo",
    "ClaimRefused",
    "PluginStore",
    "SavedOutcome",
    "StoreError",
    "find_orphans",
    "kill_orphans",
    "last_output",
    "pid_alive",
    "process_start_ticks",
    "read_regular",
    "read_regular_stat",
]
