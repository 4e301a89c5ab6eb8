"""Writing files into a run directory, and keeping every path inside it.

Rules kept here:

- One way to write a file: :func:`atomic_write` writes a temp file in the target's directory,
  flushes and fsyncs it, ``os.replace``-s it over the target and fsyncs the directory, so a
  reader sees the old bytes or the new bytes, never a torn file.
- The temp name is ``.<name>.<random>.tmp``: it does not end in ``.json`` (the SDK's
  ``loadJournal`` reads every ``*.json`` in ``journal/``) and does not start with a digit (the
  SDK's ``appendEvent`` takes the next seq from ``Number(name.split(".")[0])`` of every entry
  of ``journal/``; ``Number("")`` is 0, which is harmless).
- Text is written as UTF-8, as Node's ``fs.writeFile(path, string)`` does; a lone surrogate
  becomes U+FFFD there, and here too.
- Refs (``tasks/<id>/result.json`` ...) and effect ids come from files anyone can edit, and are
  used to build paths. :func:`safe_join` refuses absolute refs, ``..``, empty or ``.``
  components, backslashes and NUL, and any existing symlink on the way below the root:
  such a ref raises :class:`UnsafePathError` instead of reading or writing outside the run.
- Files named by the run are read through :func:`open_regular`: a symlink (which could lead
  outside the run) or a FIFO, socket or device (whose read may never end) planted where a
  file is expected raises :class:`UnsafePathError` instead of being followed or waited on.
- ``js_trim`` is JavaScript's ``String.prototype.trim`` (the SDK trims ``harness`` and value
  files with it); Python's ``str.strip`` strips a different set of characters.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path

from protocol.errors import UnsafePathError

__all__ = [
    "PRIVATE_DIR",
    "atomic_write",
    "check_effect_id",
    "encode_text",
    "ensure_private_dir",
    "fsync_dir",
    "js_trim",
    "open_regular",
    "safe_join",
]

#: The plugin's own directory inside a run: lock guards, claims. Ignored by git via its
#: own ``.gitignore``; the SDK never looks at it.
PRIVATE_DIR = ".babysit-plugin"

# ECMAScript WhiteSpace + LineTerminator: what String.prototype.trim removes.
_JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def js_trim(text: str) -> str:
    """``text.trim()`` as JavaScript computes it."""
    return text.strip(_JS_SPACE)


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of ``text`` as Node writes a JS string (lone surrogates become U+FFFD)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so the names created, renamed or removed in it are durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # pragma: no cover - filesystems refusing dir fsync
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, ``os.replace``, dir fsync).

    Missing parent directories are created, as the SDK's ``writeFileAtomic`` does.
    """
    target = Path(path)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    payload = encode_text(data) if isinstance(data, str) else bytes(data)
    tmp = parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(parent)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def open_regular(path: str | os.PathLike[str]) -> int:
    """An fd open for reading on ``path``, which must be a plain file (not a symlink).

    Raises :class:`UnsafePathError` for a symlink, FIFO, socket or device (opening never
    blocks), ``IsADirectoryError`` for a directory, and ``FileNotFoundError`` as ``open``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise UnsafePathError(
            f"{os.fspath(path)}: expected a plain file, found a symlink — refusing to follow "
            "it; replace it with the file itself",
            os.fspath(path),
        ) from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
    raise UnsafePathError(
        f"{os.fspath(path)}: expected a plain file, found {_kind(mode)} — refusing to read "
        "it (it may never end); replace it with the file itself",
        os.fspath(path),
    )


def _ref_problem(rel: object) -> str | None:
    if not isinstance(rel, str):
        return f"not a string but {type(rel).__name__}"
    if not rel:
        return "empty"
    if "\x00" in rel:
        return "contains NUL"
    if "\\" in rel:
        return "contains a backslash"
    if rel.startswith("/") or _WINDOWS_DRIVE.match(rel):
        return "absolute"
    for part in rel.split("/"):
        if part == "..":
            return "climbs out with '..'"
        if part in ("", "."):
            return "has an empty or '.' component"
    return None


def safe_join(root: Path, rel: str, *, where: str | None = None) -> Path:
    """``root / rel`` for a run-relative POSIX ref, refusing anything that could leave ``root``.

    Raises :class:`UnsafePathError` for absolute refs, ``..``, empty or ``.`` components,
    backslashes, NUL, and when any existing component below ``root`` is a symlink.
    """
    label = where or "ref"
    problem = _ref_problem(rel)
    if problem is not None:
        raise UnsafePathError(
            f"{label}: expected a path relative to the run directory, found {rel!r} "
            f"({problem}) — refusing to use it; fix or remove the entry that names it",
            str(root),
        )
    parts = rel.split("/")
    current = Path(root)
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break
        if stat.S_ISLNK(mode):
            raise UnsafePathError(
                f"{label}: expected a plain file or directory inside the run, found a symlink "
                f"at {current} — refusing to follow it; remove the symlink",
                str(current),
            )
    return Path(root).joinpath(*parts)


def check_effect_id(effect_id: str, where: str) -> None:
    """Refuse an effect id that is not exactly one safe path component."""
    problem: str | None = None
    if not isinstance(effect_id, str):
        problem = f"not a string but {type(effect_id).__name__}"
    elif not effect_id:
        problem = "empty"
    elif effect_id in (".", ".."):
        problem = "a relative directory name"
    elif "/" in effect_id or "\\" in effect_id:
        problem = "contains a path separator"
    elif "\x00" in effect_id:
        problem = "contains NUL"
    if problem is not None:
        raise UnsafePathError(
            f"{where}: expected an effect id usable as one directory name under tasks/, "
            f"found {effect_id!r} ({problem}) — use the effectId exactly as the journal has it",
            None,
        )


def ensure_private_dir(run_path: Path) -> Path:
    """Create ``<run>/.babysit-plugin/`` with a ``.gitignore`` of ``*``; return its path."""
    private = safe_join(run_path, PRIVATE_DIR, where=f"{run_path}/{PRIVATE_DIR}")
    gitignore = private / ".gitignore"
    if not gitignore.exists():
        private.mkdir(exist_ok=True)
        atomic_write(gitignore, "*\n")
    return private
