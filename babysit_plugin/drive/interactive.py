"""``drive --interactive``: a breakpoint's question asked in the terminal.

The answer is the value the babysit skill posts for a breakpoint:
``{"approved": <bool>, "response": <text>}``, ``approved`` only from an explicit yes
(the skill's rule: never infer approval).  An empty answer leaves the breakpoint
pending and the drive ends ``waiting``.
"""

from __future__ import annotations

from typing import TextIO

from babysit_plugin.drive.loop import Waiting
from protocol.jsonjs import JsonValue


class TerminalAsker:
    """Asks on ``out`` and reads the answers from ``inp`` (the terminal)."""

    def __init__(self, inp: TextIO, out: TextIO) -> None:
        self.inp = inp
        self.out = out

    def _read(self, prompt: str) -> str | None:
        self.out.write(prompt)
        self.out.flush()
        line = self.inp.readline()
        if not line:
            return None
        return line.strip()

    def __call__(self, waiting: Waiting) -> JsonValue | None:
        out = self.out
        out.write("\r\x1b[2K" if out.isatty() else "")
        out.write(f"breakpoint {waiting.title or ''} ({waiting.effect_id})\n")
        if waiting.question:
            out.write(f"  {waiting.question}\n")
        for number, option in enumerate(waiting.options, 1):
            out.write(f"  {number}) {option}\n")
        hint = "number or text" if waiting.options else "text"
        text = self._read(f"answer ({hint}; empty leaves it waiting): ")
        if not text:
            return None
        if text.isdigit() and 1 <= int(text) <= len(waiting.options):
            text = waiting.options[int(text) - 1]
        while True:
            yes = self._read("approve? [y/n]: ")
            if yes is None or yes == "":
                return None
            if yes.lower() in ("y", "yes"):
                return {"approved": True, "response": text}
            if yes.lower() in ("n", "no"):
                return {"approved": False, "response": text}
