"""The errors ``protocol`` raises: one hierarchy, each error a single line.

Rules kept here:

- Every error derives from :class:`ProtocolError` and from the builtin it resembles
  (``JournalCorruptError`` is a ``ValueError``, ``LockTimeoutError`` a ``TimeoutError``), so
  callers may catch either.
- Every error carries ``.path``: the file or directory it is about (``None`` only when no file
  is involved), as ``filelock.Timeout`` carries ``lock_file``.
- ``str(error)`` is one line naming the file, what was expected, what was found and the fix.
  Messages are composed by the raising module; this module only holds them.
"""

from __future__ import annotations

__all__ = [
    "AlreadyResolvedError",
    "EffectCancelledError",
    "InvalidValueError",
    "JournalCorruptError",
    "LockTimeoutError",
    "NotARunError",
    "PayloadError",
    "ProtocolError",
    "RunNotFoundError",
    "RunTerminalError",
    "TaskDefinitionError",
    "UnknownEffectError",
    "UnsafePathError",
    "UnsupportedSdkError",
]


class ProtocolError(Exception):
    """Base of every error about a run directory or the data exchanged with the SDK."""

    path: str | None

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.path))


class RunNotFoundError(ProtocolError, FileNotFoundError):
    """The run directory does not exist."""


class NotARunError(ProtocolError, ValueError):
    """A directory without a readable ``run.json``."""


class JournalCorruptError(ProtocolError, ValueError):
    """The journal breaks a rule the SDK's replay enforces; the SDK would fail the run too."""


class TaskDefinitionError(ProtocolError, ValueError):
    """``tasks/<effectId>/task.json`` is missing or unreadable."""


class UnknownEffectError(ProtocolError, LookupError):
    """No ``EFFECT_REQUESTED`` in the journal has this effect id."""


class AlreadyResolvedError(ProtocolError, ValueError):
    """The effect already has an ``EFFECT_RESOLVED``; a second one would break the run."""


class InvalidValueError(ProtocolError, ValueError):
    """A result to post is not something the SDK would accept."""


class LockTimeoutError(ProtocolError, TimeoutError):
    """``run.lock`` stayed held by someone else for the whole timeout."""

    holder_pid: object
    holder_owner: object

    def __init__(
        self,
        message: str,
        path: str | None = None,
        holder_pid: object = None,
        holder_owner: object = None,
    ) -> None:
        ProtocolError.__init__(self, message, path)
        self.holder_pid = holder_pid
        self.holder_owner = holder_owner

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.path, self.holder_pid, self.holder_owner))


class UnsafePathError(ProtocolError, ValueError):
    """A ref or effect id would lead outside the run directory (absolute, ``..``, symlink)."""


class PayloadError(ProtocolError, ValueError):
    """A ``run:iterate --json`` output or hook payload that is not what the SDK emits."""


class EffectCancelledError(AlreadyResolvedError):
    """The effect was cancelled (``EFFECT_CANCELLED``, 6.x ``task:cancel``): it is final."""


class RunTerminalError(ProtocolError, ValueError):
    """The run is halted, failed or completed: nothing more is performed or posted."""


class UnsupportedSdkError(ProtocolError, ValueError):
    """The run was written by an SDK release the plugin does not know, or mixes lines."""
