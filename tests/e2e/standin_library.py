"""A stand-in agent for the library-shaped e2e run: answers each task from a table.

Run as ``--harness-command "python3 standin_library.py ANSWERS {task_file}"``: it
reads its prompt on stdin, saves it as ``<taskId>.prompt`` beside ANSWERS, and
prints the answer ANSWERS holds for the task's ``taskId`` (text, printed as is).
"""

import json
import sys
from pathlib import Path

answers_path, task_file = Path(sys.argv[1]), Path(sys.argv[2])
task = json.loads(task_file.read_text(encoding="utf-8"))
prompt = sys.stdin.read()
(answers_path.parent / f"{task['taskId']}.prompt").write_text(prompt, encoding="utf-8")
print(json.loads(answers_path.read_text(encoding="utf-8"))[task["taskId"]])
