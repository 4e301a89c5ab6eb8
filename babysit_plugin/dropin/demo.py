"""``babysit-plugin demo``: dispatch a bundled run and show what concurrency saves.

The bundled run (``babysit_plugin/data/demo/``, see its README) was recorded with the real
SDK 0.0.187: it waits on one ``ctx.parallel.all`` group of six shell effects, each
``sleep 1; echo chunk N done``. The demo copies it into a fresh project directory laid out as
the SDK lays one out::

    <dir>/.a5c/processes/demo.js
    <dir>/.a5c/runs/demo/

dispatches it exactly as ``babysit-plugin dispatch`` would, checks the result with
:func:`protocol.verify_run` and that every effect received the value its command printed, and
prints the wall time against the sum of the effects' own durations (what performing them one
after another would cost). Neither Node nor an agent CLI is needed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TextIO

import attrs

from babysit_plugin.runloop.dispatch import DispatchOptions, dispatch_run
from babysit_plugin.runloop.progress import LineProgress, NullProgress
from protocol import jsonjs, open_run, read_journal, verify_run
from protocol.jsonjs import JsonValue

DEMO_RUN_ID = "demo"


@attrs.frozen
class DemoResult:
    """What the demo did and found."""

    project: Path
    run_dir: Path
    wall_seconds: float
    sequential_seconds: float
    effects: int
    ok: int
    problems: tuple[str, ...]
    #: Every effect was running at one instant (the latest start came before the earliest end).
    side_by_side: bool = False

    @property
    def passed(self) -> bool:
        """Every effect posted ``ok`` with its value, and the run verifies."""
        return not self.problems and self.ok == self.effects > 0

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "project": str(self.project),
            "runDir": str(self.run_dir),
            "effects": self.effects,
            "ok": self.ok,
            "wallMs": round(self.wall_seconds * 1000),
            "sequentialMs": round(self.sequential_seconds * 1000),
            "speedup": round(self.sequential_seconds / self.wall_seconds, 2)
            if self.wall_seconds > 0
            else None,
            "sideBySide": self.side_by_side,
            "passed": self.passed,
            "problems": list(self.problems),
        }


def stage_demo(project: Path) -> Path:
    """Copy the bundled run into ``project`` (``.a5c/processes`` and ``.a5c/runs/demo``)."""
    source = resources.files("babysit_plugin").joinpath("data").joinpath("demo")
    with resources.as_file(source) as demo:
        run_dir = project / ".a5c" / "runs" / DEMO_RUN_ID
        if run_dir.exists():
            raise FileExistsError(
                f"{run_dir}: expected no run there, found one — pick an empty --dir"
            )
        shutil.copytree(demo / "processes", project / ".a5c" / "processes", dirs_exist_ok=True)
        shutil.copytree(
            demo / "runs" / DEMO_RUN_ID,
            run_dir,
            ignore=shutil.ignore_patterns(".gitignore", ".babysit-plugin"),
        )
    return run_dir


def run_demo(project: Path, out: TextIO | None = None) -> DemoResult:
    """Stage the demo run in ``project``, dispatch it, verify it; lines go to ``out``."""
    run_dir = stage_demo(project)
    run = open_run(run_dir)
    pending = read_journal(run).pending
    if out is not None:
        out.write(
            f"demo run: {run_dir}\n"
            f"  {len(pending)} pending shell effects of one ctx.parallel.all group, "
            "each `sleep 1; echo chunk N done`\n"
        )
        out.flush()
    started = time.monotonic()
    report = dispatch_run(
        run_dir,
        DispatchOptions(progress=LineProgress(out) if out is not None else NullProgress()),
    )
    wall = time.monotonic() - started
    problems = list(report.problems)
    sequential = sum((e.duration_ms or 0) for e in report.effects if e.posted) / 1000.0
    ok = sum(1 for e in report.effects if e.posted and e.status == "ok")
    starts = [e.started_at for e in report.effects if e.started_at is not None]
    ends = [e.finished_at for e in report.effects if e.finished_at is not None]
    side_by_side = bool(starts) and len(ends) == len(starts) and max(starts) < min(ends)
    verified = verify_run(run_dir)
    problems.extend(f"{p.path}: {p.message}" for p in verified.problems if p.severity == "error")
    journal = read_journal(run)
    for record in journal.effects.values():
        if record.status != "ok":
            problems.append(f"{record.effect_id}: expected an ok result, found {record.status}")
            continue
        problems.extend(_check_value(run_dir, record.effect_id))
    return DemoResult(
        project=project,
        run_dir=run_dir,
        wall_seconds=wall,
        sequential_seconds=sequential,
        effects=len(pending),
        ok=ok,
        problems=tuple(problems),
        side_by_side=side_by_side,
    )


def _check_value(run_dir: Path, effect_id: str) -> list[str]:
    """The value posted is what the effect's command prints: ``chunk N done``."""
    task_dir = run_dir / "tasks" / effect_id
    task = jsonjs.loads((task_dir / "task.json").read_text(encoding="utf-8"))
    result = jsonjs.loads((task_dir / "result.json").read_text(encoding="utf-8"))
    title = task.get("title") if isinstance(task, dict) else None
    value = result.get("value") if isinstance(result, dict) else None
    if not isinstance(title, str) or not title.startswith("chunk "):
        return [f"{task_dir}/task.json: expected a title 'chunk N', found {title!r}"]
    expected = f"{title} done\n"
    if value != expected:
        return [f"{task_dir}/result.json: expected value {expected!r}, found {value!r}"]
    return []


def format_result(result: DemoResult) -> str:
    """The closing lines of the demo."""
    lines = []
    if result.passed:
        lines.append(
            f"{result.ok} of {result.effects} effects posted ok; the run verifies "
            "(journal, results, values)."
        )
    else:
        lines.append(f"{result.ok} of {result.effects} effects posted ok; problems:")
        lines.extend(f"  {p}" for p in result.problems)
    speedup = (
        f" — {result.sequential_seconds / result.wall_seconds:.1f}x faster"
        if result.wall_seconds > 0
        else ""
    )
    lines.append(
        f"wall time {result.wall_seconds:.2f} s; one after another they take "
        f"{result.sequential_seconds:.2f} s (the sum of their durations){speedup}"
    )
    return "\n".join(lines) + "\n"


def make_project(directory: str | None) -> tuple[Path, bool]:
    """(project directory, whether it is a fresh temporary one)."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="babysit-plugin-demo-")), True
    path = Path(directory).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path, False
