"""Claims: who is running an effect, and whether that owner is still there.

A claim (``<runDir>/.babysit-plugin/claims/<effectId>.json``) records the
dispatcher that runs an effect: ``{effectId, pid, host, startedAt, token,
procStart}``.  This module holds the claim records and the process checks
behind "is its owner alive": the pid, the kernel start time of that pid (a
reused pid is someone else), and the orphans of a dead owner (processes still
carrying the effect's ``BABYSIT_PLUGIN_EFFECT_ID`` and
``BABYSIT_PLUGIN_RUN_DIR``), which a takeover kills first.

**Heartbeats.**  A dispatcher refreshes the claims it holds every
``heartbeatS`` seconds (:data:`DEFAULT_HEARTBEAT`, recorded in the claim) by
setting the claim file's modification time; a claim not refreshed for
:data:`STALE_FACTOR` intervals (30 s by default) is dead even while its pid
lives: a stopped or wedged dispatcher, or a pid reused after a reboot.  Claim files
themselves are created, replaced and removed by
:class:`babysit_plugin.runloop.store.PluginStore`, under its mutex.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import attrs

from protocol.jsonjs import JsonValue


def process_start_ticks(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    # Field 22 of stat is starttime; fields[] starts at field 3 (state).
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _pid_state(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[0] if fields else None


def pid_alive(pid: int, proc_start: int | None = None) -> bool:
    """True when ``pid`` is a live (non-zombie) process on this host.

    With ``proc_start``, a process whose kernel start time differs is a reuse
    of the pid by someone else, hence not the one that was recorded.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _pid_state(pid) in (b"Z", b"X"):
        return False
    if proc_start is not None:
        now = process_start_ticks(pid)
        if now is not None and now != proc_start:
            return False
    return True


@attrs.frozen
class ClaimInfo:
    """A claim as recorded in ``claims/<effectId>.json``."""

    effect_id: str
    pid: int
    host: str
    started_at: str
    token: str
    proc_start: int | None = None
    #: The owner's heartbeat interval (seconds), recorded so that readers judge
    #: staleness by the writer's own rhythm; None for claims without heartbeats.
    heartbeat_s: float | None = None
    #: Which claim of the effect this is (1, then 2 after a takeover, ...).
    attempt: int = 1
    #: When the owner last refreshed the claim: the file's mtime, set by the reader
    #: (never written into the file).
    heartbeat_at: float | None = attrs.field(default=None, eq=False)

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "effectId": self.effect_id,
            "pid": self.pid,
            "host": self.host,
            "startedAt": self.started_at,
            "token": self.token,
        }
        if self.proc_start is not None:
            data["procStart"] = self.proc_start
        if self.heartbeat_s is not None:
            data["heartbeatS"] = self.heartbeat_s
        if self.attempt != 1:
            data["attempt"] = self.attempt
        return data

    @classmethod
    def from_json(cls, data: JsonValue) -> ClaimInfo | None:
        if not isinstance(data, dict):
            return None
        eid, pid, host = data.get("effectId"), data.get("pid"), data.get("host")
        started, token, ps = data.get("startedAt"), data.get("token"), data.get("procStart")
        if not (
            isinstance(eid, str)
            and isinstance(pid, int)
            and not isinstance(pid, bool)
            and isinstance(host, str)
            and isinstance(started, str)
            and isinstance(token, str)
        ):
            return None
        beat, attempt = data.get("heartbeatS"), data.get("attempt")
        return cls(
            eid,
            pid,
            host,
            started,
            token,
            ps if isinstance(ps, int) and not isinstance(ps, bool) else None,
            heartbeat_s=(
                float(beat)
                if isinstance(beat, (int, float)) and not isinstance(beat, bool) and beat > 0
                else None
            ),
            attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1,
        )

    def stale_after(self) -> float | None:
        """Seconds without a refresh after which the owner counts as dead (None: never)."""
        if self.heartbeat_s is None:
            return None
        return STALE_FACTOR * self.heartbeat_s

    def heartbeat_age(self, now: float | None = None) -> float | None:
        """Seconds since the owner last refreshed this claim, if known."""
        if self.heartbeat_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.heartbeat_at)

    def heartbeat_stale(self, now: float | None = None) -> bool:
        """True when the owner has not refreshed the claim within its staleness bound."""
        bound, age = self.stale_after(), self.heartbeat_age(now)
        return bound is not None and age is not None and age > bound

    def owner_alive(self) -> bool:
        """True unless the owning process is provably gone (dead pid on this host)."""
        if self.host != socket.gethostname():
            return True
        return pid_alive(self.pid, self.proc_start)

    def is_live(self) -> bool:
        """True unless the owner is provably gone: a dead pid on this host, or a
        heartbeat older than the bound (a stopped or wedged owner, a reused pid)."""
        if self.heartbeat_stale():
            return False
        return self.owner_alive()

    def describe(self) -> str:
        if self.host == socket.gethostname():
            return f"claimed by pid {self.pid}"
        return f"claimed by pid {self.pid} on host {self.host}"


#: A claim whose heartbeat is older than this many of its owner's intervals is dead.
STALE_FACTOR = 6

#: Seconds between heartbeats (``$BABYSIT_PLUGIN_HEARTBEAT_INTERVAL`` overrides it).
DEFAULT_HEARTBEAT = 5.0
HEARTBEAT_ENV = "BABYSIT_PLUGIN_HEARTBEAT_INTERVAL"


def heartbeat_interval() -> float:
    """This process's heartbeat interval: ``$BABYSIT_PLUGIN_HEARTBEAT_INTERVAL`` or 5 s."""
    raw = os.environ.get(HEARTBEAT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_HEARTBEAT
    except ValueError:
        return DEFAULT_HEARTBEAT
    return value if 0 < value < 3600 else DEFAULT_HEARTBEAT


@attrs.frozen
class Claim:
    """A claim this process holds.  ``taken_over`` is the dead claim it replaced."""

    info: ClaimInfo
    path: Path
    taken_over: ClaimInfo | None = None

    @property
    def effect_id(self) -> str:
        return self.info.effect_id

    @property
    def token(self) -> str:
        return self.info.token


@attrs.frozen
class ClaimRefused:
    """The effect is claimed by a live owner; ``holder`` says who."""

    effect_id: str
    holder: ClaimInfo

    @property
    def reason(self) -> str:
        return self.holder.describe()


# A claim file that exists but cannot be read as a claim: never written whole by
# this module (writes are atomic), so it is treated as abandoned.
_BROKEN = ClaimInfo("", -1, "", "", "")


def _environ_of(pid: int) -> dict[bytes, bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return {}
    env: dict[bytes, bytes] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key] = value
    return env


def find_orphans(run_path: Path, effect_id: str) -> list[int]:
    """Live processes started for ``effect_id`` of this run (by their environment)."""
    want = {
        b"BABYSIT_PLUGIN_EFFECT_ID": os.fsencode(effect_id),
        b"BABYSIT_PLUGIN_RUN_DIR": os.fsencode(str(run_path)),
    }
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        env = _environ_of(int(entry))
        if (
            env
            and all(env.get(k) == v for k, v in want.items())
            and _pid_state(int(entry)) not in (None, b"Z", b"X")
        ):
            found.append(int(entry))
    return found


def kill_orphans(run_path: Path, effect_id: str, rounds: int = 3) -> int:
    """SIGKILL every orphan of ``effect_id`` (a few rounds: they may fork); return the count."""
    killed: set[int] = set()
    for _ in range(rounds):
        pids = [p for p in find_orphans(run_path, effect_id) if p not in killed]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
    return len(killed)
