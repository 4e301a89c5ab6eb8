"""A dispatcher killed with SIGKILL at any point leaves a run the SDK replays and the next
dispatch completes: each effect posted once, its command run at most once per claim.

One SDK run of five shell effects in one parallel group is copied once per scenario.  A
scenario arms a crash point (``BABYSIT_PLUGIN_FAULT=POINT:N``, see
:mod:`babysit_plugin.runloop.faults`) for the first dispatch; about a third arm another for the
second dispatch (crashes during recovery); a last dispatch runs unarmed.  The points and
their order come from a fixed seed.  Between crashes every run is checked with
``verify`` and replayed by the SDK (``orchestrateIteration``, the core of
``run:iterate``, for all; the ``babysitter run:iterate`` CLI for a sample).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kit import (
    LEDGER,
    ForkServer,
    Project,
    copy_run,
    plugin,
    plugin_state_is_clean,
    replay,
    requested_ids,
    resolved_per_effect,
    runs_per_claim,
    runs_per_effect,
    sdk_run,
    shell_process,
    verify_errors,
)

from babysit_plugin.runloop.faults import POINTS, parse
from babysit_plugin.runloop.report import EXIT_NOTHING_DONE, EXIT_RUN_OVER
from babysit_plugin.runloop.store import PluginStore, find_orphans
from protocol import open_run, pending_actions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = 20260105
EFFECTS = 5
SECOND_KILL_SHARE = 0.35
CLI_SAMPLE = 4
WORKERS = 4


def all_kill_points() -> list[tuple[str, int]]:
    """Every (point, N) a first dispatch of EFFECTS effects reaches."""
    combos = [("dispatch:start", 1)]
    combos += [(p, n) for p in POINTS if p != "dispatch:start" for n in range(1, EFFECTS + 1)]
    return combos


@dataclass
class Scenario:
    name: str
    kills: list[str]
    max_concurrency: int | None
    run_dir: Path = Path()
    exits: list[int] = field(default_factory=list)
    # effect id -> how many times it had run when a crash left its outcome saved
    saved_after_kill: dict[str, int] = field(default_factory=dict)
    final: dict[str, object] = field(default_factory=dict)


def scenarios() -> list[Scenario]:
    rng = random.Random(SEED)
    combos = all_kill_points()
    rng.shuffle(combos)
    out = []
    for index, (point, n) in enumerate(combos):
        kills = [f"{point}:{n}"]
        if rng.random() < SECOND_KILL_SHARE:
            second, m = rng.choice(combos)
            kills.append(f"{second}:{m}")
        cap = rng.choice([None, None, 2, 1])
        out.append(Scenario(f"k{index:02d}", kills, cap))
    return out


_servers = threading.local()
_all_servers: list[ForkServer] = []


def dispatch(sc: Scenario, fault: str | None) -> int:
    """One dispatcher process (forked by this thread's warm server), ``fault`` armed."""
    server = getattr(_servers, "server", None)
    if server is None:
        server = _servers.server = ForkServer()
        _all_servers.append(server)
    args: list[str | Path] = ["dispatch", sc.run_dir, "--json"]
    if sc.max_concurrency is not None:
        args += ["--max-concurrency", str(sc.max_concurrency)]
    code, out, err = server.run(*args, fault=fault)
    if fault is None:
        sc.final = json.loads(out)
        # A kill after the last commit leaves nothing to do: 4 when that commit completed the
        # run, 5 ("nothing could be performed") when every effect was already posted.
        over = code == EXIT_RUN_OVER and sc.final.get("runStatus") == "completed"
        idle = code == EXIT_NOTHING_DONE and sc.final["counts"]["total"] == 0
        assert code == 0 or over or idle, (sc.name, code, err, out)
    return code


def note_saved(sc: Scenario) -> None:
    runs = runs_per_effect(sc.run_dir)
    for eid in PluginStore(sc.run_dir).saved_outcome_ids():
        sc.saved_after_kill.setdefault(eid, runs[eid])


def first_crash(sc: Scenario) -> None:
    sc.exits.append(dispatch(sc, sc.kills[0]))
    note_saved(sc)


def recover(sc: Scenario) -> None:
    for fault in sc.kills[1:]:
        sc.exits.append(dispatch(sc, fault))
        note_saved(sc)
    sc.exits.append(dispatch(sc, None))


def test_sigkill_at_fifty_points_never_breaks_the_run(sdk: Project) -> None:
    """SIGKILL at 51+ seeded points: SDK replays, next dispatch completes, posts once."""
    command = f"{LEDGER}; printf 'value-${{args.n}}'"
    template = sdk_run(sdk, shell_process("kill", EFFECTS, command), "tmpl")
    plan = scenarios()
    for sc in plan:
        sc.run_dir = copy_run(template, sc.name)
    expected_ids = requested_ids(template)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(first_crash, plan))
    kills = sum(1 for sc in plan if sc.exits[0] == -9)
    missed = [(sc.name, sc.kills[0], sc.exits) for sc in plan if sc.exits[0] != -9]
    assert kills == len(plan), missed

    # The killed state: verify finds no error, the SDK replays every run: still waiting, or
    # completed when the kill came after the last result was committed (a late point).
    for sc in plan:
        assert verify_errors(sc.run_dir) == [], sc.name
    sample = [sc.run_dir for sc in plan[:CLI_SAMPLE]]
    expected = ["waiting" if pending_actions(open_run(d)) else "completed" for d in sample]
    with ThreadPoolExecutor(CLI_SAMPLE) as pool:
        statuses = list(pool.map(lambda d: sdk.iterate(d)["status"], sample))
    assert statuses == expected
    replayed = replay(sdk, [sc.run_dir for sc in plan[CLI_SAMPLE:]])
    bad = {p: r for p, r in replayed.items() if r["status"] not in ("waiting", "completed")}
    assert bad == {}

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(recover, plan))
    for server in _all_servers:
        server.close()
    kills += sum(1 for sc in plan for code in sc.exits[1:-1] if code == -9)
    assert kills >= 50

    done = replay(sdk, [sc.run_dir for sc in plan])
    expected_output = [f"value-{n}" for n in range(1, EFFECTS + 1)]
    for sc in plan:
        assert done[sc.run_dir]["status"] == "completed", (sc.name, done[sc.run_dir])
        assert done[sc.run_dir]["output"] == expected_output, sc.name
        assert resolved_per_effect(sc.run_dir) == Counter({e: 1 for e in expected_ids}), sc.name
        per_claim = runs_per_claim(sc.run_dir)
        assert max(per_claim.values()) == 1, (sc.name, per_claim)
        per_effect = runs_per_effect(sc.run_dir)
        for eid, runs in sc.saved_after_kill.items():
            # Saved before a crash: posted later, never run again.
            assert per_effect[eid] == runs, (sc.name, sc.kills, eid)
        if sc.final.get("runStatus") != "completed":
            # A dispatch of a run that is over changes nothing, not even the plugin's own
            # state: a claim or outcome left by a kill after the last commit stays there
            # (harmless: its effect is resolved) until the run directory is removed.
            assert plugin_state_is_clean(sc.run_dir), sc.name
        assert all(find_orphans(sc.run_dir, eid) == [] for eid in expected_ids), sc.name
    recovered = sum(
        1 for sc in plan for e in sc.final["effects"] if isinstance(e, dict) and e.get("recovered")
    )
    assert recovered > 0
    print(f"\n{kills} kills in {len(plan)} scenarios; {recovered} outcomes posted after a crash")


def test_real_run_iterate_accepts_a_post_interrupted_before_its_journal_event(
    sdk: Project,
) -> None:
    """Killed between result.json and EFFECT_RESOLVED: the SDK CLI still iterates the run."""
    run_dir = sdk_run(sdk, shell_process("one", 2, f"{LEDGER}; printf 'v${{args.n}}'"), "one")
    proc = plugin("dispatch", run_dir, env={"BABYSIT_PLUGIN_FAULT": "post:result-written:1"})
    assert proc.returncode == -9
    assert len(list(run_dir.glob("tasks/*/result.json"))) == 1
    assert sum(resolved_per_effect(run_dir).values()) == 0
    assert sdk.iterate(run_dir)["status"] == "waiting"
    assert plugin("dispatch", run_dir).returncode == 0
    assert sdk.iterate(run_dir)["status"] == "completed"
    assert sorted(runs_per_effect(run_dir).values()) == [1, 1]


def test_crash_point_specs_are_checked() -> None:
    """POINT[:N] parses; an unknown point is refused in one line naming the valid ones."""
    assert parse("claim:made:3") == ("claim:made", 3)
    assert parse("lock:held") == ("lock:held", 1)
    with pytest.raises(ValueError, match=r"^BABYSIT_PLUGIN_FAULT='nope:2': expected POINT"):
        parse("nope:2")
    proc = plugin("dispatch", "/nonexistent", env={"BABYSIT_PLUGIN_FAULT": "nope"})
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "babysit-plugin: error: BABYSIT_PLUGIN_FAULT='nope': expected POINT[:N] with POINT one "
        "of dispatch:start, claim:before,"
    )
