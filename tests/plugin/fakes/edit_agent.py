"""``edit_agent.py TASK_FILE``: a stand-in agent that edits files in its working directory.

The task's ``agent.prompt`` is a JSON list of operations, done in order in the
working directory (the effect's worktree when isolated):
``["write", PATH, TEXT]``, ``["append", PATH, TEXT]``, ``["bytes", PATH, HEX]``,
``["delete", PATH]``, ``["rename", OLD, NEW]``, ``["chmod", PATH, "755"]``,
``["symlink", PATH, TARGET]``, ``["user", PATH, TEXT]`` (writes into
``$EDIT_AGENT_USER_TREE``: the user editing the repository meanwhile),
``["stamp", DIR, NAME]`` (start/end times around a 0.3 s sleep), ``["barrier", DIR,
NAME, COUNT]`` (wait until COUNT agents reached it: proof they run side by side),
``["fail"]``.
Prints ``{"done": N}``.
"""

import json
import os
import sys
import time

with open(sys.argv[1]) as task_fh:
    task = json.load(task_fh)
ops = json.loads(task["agent"]["prompt"])
failed = False
for op in ops:
    kind, args = op[0], op[1:]
    if kind in ("write", "append"):
        os.makedirs(os.path.dirname(args[0]) or ".", exist_ok=True)
        with open(args[0], "w" if kind == "write" else "a") as fh:
            fh.write(args[1])
    elif kind == "bytes":
        with open(args[0], "wb") as fh:
            fh.write(bytes.fromhex(args[1]))
    elif kind == "delete":
        os.unlink(args[0])
    elif kind == "rename":
        os.makedirs(os.path.dirname(args[1]) or ".", exist_ok=True)
        os.rename(args[0], args[1])
    elif kind == "chmod":
        os.chmod(args[0], int(args[1], 8))
    elif kind == "symlink":
        os.symlink(args[1], args[0])
    elif kind == "user":
        with open(os.path.join(os.environ["EDIT_AGENT_USER_TREE"], args[0]), "w") as fh:
            fh.write(args[1])
    elif kind == "stamp":
        with open(os.path.join(args[0], args[1] + ".start"), "w") as fh:
            fh.write(str(time.time_ns()))
        time.sleep(0.3)
        with open(os.path.join(args[0], args[1] + ".end"), "w") as fh:
            fh.write(str(time.time_ns()))
    elif kind == "barrier":  # wait (up to 60 s) until COUNT agents have reached it
        directory, name, count = args[0], args[1], int(args[2])
        with open(os.path.join(directory, name + ".start"), "w") as fh:
            fh.write(str(time.time_ns()))
        deadline = time.monotonic() + 60
        while sum(f.endswith(".start") for f in os.listdir(directory)) < count:
            if time.monotonic() > deadline:
                sys.exit("barrier: the other agents never came")
            time.sleep(0.01)
    elif kind == "fail":
        failed = True
sys.stdout.write(json.dumps({"done": len(ops), "cwd": os.getcwd()}))
sys.exit(1 if failed else 0)
