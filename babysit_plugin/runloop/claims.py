"""Claims: who is running an effect, and whether that owner is still there.

A claim (``<runDir>/.babysit-plugin/claims/<effectId>.json``) records the
dispatcher that runs an effect: ``{effectId, pid, host, startedAt, token,
procStart}``.  This module holds the claim records and the process checks
behind "is its owner alive": the pid, the kernel start time of that pid (a
reused pid is someone else), and the orphans of a dead owner (processes still
carrying the effect's ``BABYSIT_PLUGIN_EFFECT_ID`` and
``BABYSIT_PLUGIN_RUN_DIR``), which a takeover kills first.  Claim files
themselves are created, replaced and removed by
:class:`babysit_plugin.runloop.store.PluginStore`, under its mutex.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
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
        return cls(eid, pid, host, started, token, ps if isinstance(ps, int) else None)

    def is_live(self) -> bool:
        """True unless the owner is provably gone (dead pid on this host)."""
        if self.host != socket.gethostname():
            return True
        return pid_alive(self.pid, self.proc_start)

    def describe(self) -> str:
        if self.host == socket.gethostname():
            return f"claimed by pid {self.pid}"
        return f"claimed by pid {self.pid} on host {self.host}"


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
