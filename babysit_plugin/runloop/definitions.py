"""Where a pending effect's task definition comes from.

SDK 0.0.183 and later write the process's whole definition to ``tasks/<id>/task.json``.
SDK 0.0.162-0.0.174 drop its ``shell``/``agent``/``skill`` block there
(:func:`protocol.pending.definition_not_on_disk`); the block is printed only by the
``run:iterate`` that requested the effect (``nextActions[].taskDef``, also the
``on-iteration-start`` payload's ``pending[].taskDef``), and every later iteration prints
``task.json`` again. Read in that SDK's ``runtime/intrinsics/task.js``: a new effect's action
carries the built definition, an existing one's ``readTaskDefinition``.

So, for such an effect:

- a definition handed over with ``--actions`` or by the hook that has the block is kept in
  ``.babysit-plugin/definitions/<effectId>.json`` and used (also by a later plain
  ``dispatch``, after an interruption); it is dropped once the effect is resolved;
- without one, the effect is skipped with a reason naming the command that works; it is
  never performed on a guess (a title as the whole prompt, a shell effect posted as an error).

Running the SDK's CLI from here would not help, and is not harmless (read in 0.0.174's
``cli/commands/runIterate.js`` and ``runtime/orchestrateIteration.js``): for effects already
requested ``run:iterate`` prints their ``task.json`` (measured); it holds ``run.lock`` while it
replays, rebuilds ``state/state.json`` when stale, appends ``EFFECT_REQUESTED`` for whatever
the process asks next and ``RUN_COMPLETED``/``RUN_FAILED`` when it ends, and calls the
project's ``on-iteration-start``/``on-iteration-end`` hooks twice each (this plugin's hook
among them). So the plugin never runs it; the agent's own ``run:iterate`` output is handed
over instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from babysit_plugin.runloop.store import PluginStore
from protocol.errors import ProtocolError
from protocol.models import PendingAction, Run, TaskDef
from protocol.pending import definition_not_on_disk, load_task_def

__all__ = ["DefinitionMissing", "remember", "resolve"]


class DefinitionMissing(Exception):
    """The effect's definition is not on disk and was not handed over; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _pipe(run: Run) -> str:
    path = run.path
    return f"babysitter run:iterate {path} --json | babysit-plugin dispatch {path} --actions -"


def remember(store: PluginStore, run: Run, actions: Iterable[PendingAction]) -> int:
    """Keep the handed-over definitions whose block the run's ``task.json`` lacks.

    Returns how many were newly kept. An action whose ``task.json`` cannot be read, or
    whose given definition is of another kind, is left alone (it is reported when planned).
    """
    kept = 0
    for action in actions:
        given = action.task
        if given is None or definition_not_on_disk(given) is not None:
            continue
        try:
            on_disk = load_task_def(run, action.effect_id)
        except ProtocolError:
            continue
        block = definition_not_on_disk(on_disk)
        if block is None or block not in given.raw or given.kind != on_disk.kind:
            continue
        if not store.exists():
            store.ensure()
        if store.save_definition(action.effect_id, given.raw):
            kept += 1
    return kept


def resolve(store: PluginStore, run: Run, action: PendingAction, *, given: bool) -> TaskDef:
    """The definition to perform ``action`` from; raises :class:`DefinitionMissing`.

    ``given``: the action was handed over (``--actions``, a hook payload), not read from disk.
    """
    task = action.task or load_task_def(run, action.effect_id)
    block = definition_not_on_disk(task)
    if block is None:
        return task
    saved = store.load_definition(action.effect_id) if store.exists() else None
    if saved is not None and block in saved and saved.get("kind") == task.kind:
        return TaskDef(raw=saved)
    where = "the actions given carry" if given else "its task.json holds"
    raise DefinitionMissing(
        f"its {block} block is not on disk: {where} the definition as SDK 0.0.162-0.0.174 "
        "write it, and only the output of the `run:iterate` that requested the effect has the "
        "block — pass that output with `--actions FILE|-`; from the next iteration on run "
        f"`{_pipe(run)}`"
    )
