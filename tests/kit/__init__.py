"""The one test kit: SDK lines, real-SDK projects, hand-built runs, fake CLIs, observation.

Every suite imports from here (``from kit import ...``; ``tests/`` is on ``sys.path`` through
``tests/conftest.py``). Each part is parameterized by SDK line:

- :mod:`kit.lines` — where each SDK line (0.0.187, 0.0.174, 6.0.3) is installed;
  ``tests/conftest.py``'s ``sdk_line`` / ``sdk`` fixtures run a test on 0.0.187 and 6.0.3.
- :mod:`kit.sdk` — :class:`Project`: a throw-away project on one line's SDK CLI; the
  recorded fixture runs (``tests/fixtures/runs`` for 0.0.187, ``runs-6.0.3`` for 6.0.3).
- :mod:`kit.handmade` — :class:`RunBuilder` and :func:`make_run`: runs built by hand in the
  bytes of a chosen line (``sdk_version=``).
- :mod:`kit.fakes` — fake harness CLIs on PATH that record what they were given.
- :mod:`kit.plugin` — the plugin as a process (and a fork server of warm interpreters),
  ledgers, journal counts, replay by the SDK's own ``orchestrateIteration``.
- :mod:`kit.snapshots` — byte snapshots of trees, to prove a refused command changed nothing.
"""

from __future__ import annotations

from kit.fakes import FAKE_NAMES, FAKES, Fakes, install_fakes
from kit.handmade import RUN_ID, T0, RunBuilder, RunDir, agent, iso_at, make_run, shell, ulid_at
from kit.lines import ALL_LINES, MAIN_LINES, SdkLine, find_line, installed_version
from kit.plugin import (
    LEDGER,
    Baselines,
    ForkServer,
    copy_run,
    find_runs,
    first_line,
    journal_events,
    ledger,
    plugin,
    plugin_argv,
    plugin_env,
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
from kit.sdk import (
    CLI,
    FIXTURE_PROCESSES,
    FIXTURE_RUNS,
    NODE_MODULES,
    REPO,
    Project,
    Sdk,
    SdkUnavailableError,
    clean_env,
    copy_fixture,
    find_sdk,
    fixture_names,
    pinned_version,
    process_file_of,
    record,
)
from kit.snapshots import Entry, snapshot, snapshot_diff

__all__ = [
    "ALL_LINES",
    "CLI",
    "FAKES",
    "FAKE_NAMES",
    "FIXTURE_PROCESSES",
    "FIXTURE_RUNS",
    "LEDGER",
    "MAIN_LINES",
    "NODE_MODULES",
    "REPO",
    "RUN_ID",
    "T0",
    "Baselines",
    "Entry",
    "Fakes",
    "ForkServer",
    "Project",
    "RunBuilder",
    "RunDir",
    "Sdk",
    "SdkLine",
    "SdkUnavailableError",
    "agent",
    "clean_env",
    "copy_fixture",
    "copy_run",
    "find_line",
    "find_runs",
    "find_sdk",
    "first_line",
    "fixture_names",
    "install_fakes",
    "installed_version",
    "iso_at",
    "journal_events",
    "ledger",
    "make_run",
    "pinned_version",
    "plugin",
    "plugin_argv",
    "plugin_env",
    "plugin_state_is_clean",
    "process_file_of",
    "record",
    "replay",
    "requested_ids",
    "resolved_per_effect",
    "runs_per_claim",
    "runs_per_effect",
    "sdk_run",
    "shell",
    "shell_process",
    "snapshot",
    "snapshot_diff",
    "ulid_at",
    "verify_errors",
]
