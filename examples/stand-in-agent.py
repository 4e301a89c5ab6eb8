#!/usr/bin/env python3
"""A stand-in for an agent CLI such as `claude -p`: think for a second, answer in JSON.

babysit-plugin runs it as `--harness-command "python3 stand-in-agent.py {task_file}"`:
the argument is the effect's task.json, the prompt arrives on stdin, and whatever is
printed on stdout is the agent's answer (JSON here, so the process receives an object).
"""

import json
import sys
import time
from pathlib import Path

task = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
prompt = sys.stdin.read()
topic = task["agent"]["prompt"]["context"]["topic"]
time.sleep(1.0)
print(
    json.dumps(
        {
            "topic": topic,
            "summary": f"Reviewed {topic}: fine (a stand-in answer to a {len(prompt)}-char prompt)",
        }
    )
)
