"""Paths built from refs and effect ids never leave the run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import UnsafePathError, check_effect_id, js_trim, safe_join
from protocol.fsutil import ensure_private_dir


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("C:/x", "absolute"),
        ("tasks/../../x", "climbs out with '..'"),
        ("..", "climbs out with '..'"),
        ("tasks//x", "has an empty or '.' component"),
        ("./tasks", "has an empty or '.' component"),
        ("tasks\\x", "contains a backslash"),
        ("tasks/\x00", "contains NUL"),
        ("", "empty"),
    ],
)
def test_safe_join_refuses(tmp_path: Path, ref: str, reason: str) -> None:
    """Absolute refs, '..', empty or '.' parts, backslashes and NUL are refused."""
    with pytest.raises(UnsafePathError) as info:
        safe_join(tmp_path, ref, where="resultRef")
    assert str(info.value) == (
        f"resultRef: expected a path relative to the run directory, found {ref!r} ({reason}) — "
        "refusing to use it; fix or remove the entry that names it"
    )


def test_safe_join_refuses_symlinks_on_the_way(tmp_path: Path) -> None:
    """An existing symlink anywhere below the root is refused, even to a directory inside."""
    (tmp_path / "tasks" / "real").mkdir(parents=True)
    (tmp_path / "tasks" / "link").symlink_to(tmp_path / "tasks" / "real")
    with pytest.raises(UnsafePathError) as info:
        safe_join(tmp_path, "tasks/link/result.json")
    assert str(info.value) == (
        "ref: expected a plain file or directory inside the run, found a symlink at "
        f"{tmp_path}/tasks/link — refusing to follow it; remove the symlink"
    )
    assert info.value.path == f"{tmp_path}/tasks/link"


def test_safe_join_allows_missing_parts(tmp_path: Path) -> None:
    """A ref to a file that does not exist yet gives its full path."""
    assert safe_join(tmp_path, "tasks/E/blobs/x.json") == tmp_path / "tasks/E/blobs/x.json"


@pytest.mark.parametrize(
    ("effect_id", "reason"),
    [("a/b", "contains a path separator"), ("..", "a relative directory name"), ("", "empty")],
)
def test_check_effect_id(effect_id: str, reason: str) -> None:
    """An effect id must be one path component."""
    with pytest.raises(UnsafePathError) as info:
        check_effect_id(effect_id, "payload")
    assert str(info.value) == (
        "payload: expected an effect id usable as one directory name under tasks/, found "
        f"{effect_id!r} ({reason}) — use the effectId exactly as the journal has it"
    )
    check_effect_id("01KABC", "payload")


def test_js_trim() -> None:
    """js_trim strips what String.prototype.trim strips, and only that."""
    assert js_trim("\ufeff\u00a0\u2028 x \t\n\u3000") == "x"
    assert js_trim("\x1c x \x85") == "\x1c x \x85"


def test_private_dir(tmp_path: Path) -> None:
    """The plugin's private dir ignores itself in git."""
    private = ensure_private_dir(tmp_path)
    assert private == tmp_path / ".babysit-plugin"
    assert (private / ".gitignore").read_text() == "*\n"
