"""Shared fixtures for the pure protocol tests."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
REPO_ROOT = Path(__file__).resolve().parents[2]
SDK_DIST_CANDIDATES = (
    REPO_ROOT / "node_modules" / "@a5c-ai" / "babysitter-sdk" / "dist",
    Path("/tmp/sdk/node_modules/@a5c-ai/babysitter-sdk/dist"),
)


def tag(value: Any) -> Any:
    """Encode a Python value for oracle.js so that ints, floats and -0/NaN/inf survive."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"$i": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$f": "NaN"}
        if math.isinf(value):
            return {"$f": "Infinity" if value > 0 else "-Infinity"}
        return {"$f": repr(value)}
    if isinstance(value, (list, tuple)):
        return [tag(v) for v in value]
    if isinstance(value, dict):
        return {"$o": [[k, tag(v)] for k, v in value.items()]}
    raise TypeError(f"cannot tag {type(value).__name__}")


class NodeOracle:
    """One long-lived ``node oracle.js`` answering JSON.stringify/parse/localeCompare queries."""

    def __init__(self, node: str, sdk_dist: Path | None) -> None:
        env = dict(os.environ)
        if sdk_dist is not None:
            env["BABYSIT_SDK_DIST"] = str(sdk_dist)
        self.sdk_dist = sdk_dist
        self._proc = subprocess.Popen(
            [node, str(NODE_DIR / "oracle.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
        )

    def _ask(self, request: dict[str, Any]) -> Any:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request, ensure_ascii=True) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("node oracle exited")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"node oracle failed: {reply['error']}")
        return reply["ok"]

    def stringify(self, values: Sequence[Any], indent: int = 2) -> list[tuple[str, str]]:
        """``[JSON.stringify(v, null, indent), JSON.stringify(v)]`` for each value."""
        return [
            tuple(r)
            for r in self._ask(  # type: ignore[misc]
                {"op": "stringify", "indent": indent, "values": [tag(v) for v in values]}
            )
        ]

    def parse(self, texts: Sequence[str]) -> list[dict[str, str]]:
        """``{"ok": JSON.stringify(JSON.parse(t), null, 2)}`` or ``{"error": name}``."""
        result: list[dict[str, str]] = self._ask({"op": "parse", "texts": list(texts)})
        return result

    def stable_clone(self, values: Sequence[Any]) -> list[str]:
        """The SDK's own serializeTaskResult ``result`` for each value, stringified."""
        result: list[str] = self._ask({"op": "stable_clone", "values": [tag(v) for v in values]})
        return result

    def sort(self, lists: Sequence[Sequence[str]]) -> list[list[int]]:
        """Indices of each list in ``localeCompare`` (stable) sort order."""
        result: list[list[int]] = self._ask({"op": "sort", "lists": [list(x) for x in lists]})
        return result

    def compare(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """``a.localeCompare(b)`` for each pair."""
        result: list[int] = self._ask({"op": "compare", "pairs": [list(p) for p in pairs]})
        return result

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)


@pytest.fixture(scope="session")
def node_oracle() -> Iterator[NodeOracle]:
    """A node process answering JSON.stringify/parse/localeCompare queries (skips without node)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the JSON/collation oracle tests need Node 20")
    sdk = next((p for p in SDK_DIST_CANDIDATES if (p / "tasks" / "serializer.js").is_file()), None)
    oracle = NodeOracle(node, sdk)
    yield oracle
    oracle.close()
