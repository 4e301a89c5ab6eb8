"""Byte snapshots of directory trees: what a refused command must leave exactly as it was."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

#: (kind, permission bits, content): kind is file / dir / link / special; content is the
#: bytes of a file, the target of a link, None otherwise.
Entry = tuple[str, int, bytes | str | None]


def snapshot(root: Path) -> dict[str, Entry]:
    """Every path under ``root`` with its kind, permission bits and content (or link target).

    A FIFO, socket or device is recorded by kind instead of being read (a read could block
    forever).
    """
    found: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", mode, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", mode, None)
            elif stat.S_ISREG(st.st_mode):
                found[rel] = ("file", mode, path.read_bytes())
            else:
                found[rel] = ("special", mode, None)
    return found


def snapshot_diff(before: Mapping[str, Entry], after: Mapping[str, Entry]) -> list[str]:
    """Human-readable differences between two snapshots (empty when identical)."""
    diffs = [f"removed {p}" for p in sorted(set(before) - set(after))]
    diffs += [f"added {p}" for p in sorted(set(after) - set(before))]
    diffs += [f"changed {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return diffs
