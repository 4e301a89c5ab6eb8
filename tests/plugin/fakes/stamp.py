"""``stamp.py DIR NAME SECONDS [OUTPUT]``: record wall-clock start/end (ns) around a sleep.

Writes ``DIR/NAME.start`` at once and ``DIR/NAME.end`` when done (``time.time_ns()``,
comparable across processes), then prints OUTPUT (default NAME).
"""

import os
import sys
import time

directory, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
output = sys.argv[4] if len(sys.argv) > 4 else name


def _put(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)


_put(os.path.join(directory, name + ".start"), str(time.time_ns()))
time.sleep(seconds)
_put(os.path.join(directory, name + ".end"), str(time.time_ns()))
sys.stdout.write(output)
