#!/usr/bin/env bash
# Drive examples/process.js to completion with the real babysitter SDK and babysit-plugin:
#
#   bash examples/run.sh [--hook] [PROJECT_DIR]
#
# It does what the babysit skill does, with step 5 ("perform effects") handed to
# `babysit-plugin dispatch`: run:create, then run:iterate; whenever the run is waiting,
# dispatch its pending effects (shell commands, and agent effects through
# stand-in-agent.py instead of a real agent CLI); repeat until the run completes.
# With --hook, `babysit-plugin install --with-dispatcher` first puts the on-iteration-start
# hook into the project, so run:iterate itself performs the group of shell effects
# (status "executed") and only the agents are left to dispatch.
#
# Needs Node and the SDK: `npm ci --ignore-scripts` at the repository root installs the
# pinned one (or set BABYSITTER to a babysitter CLI). BABYSIT_PLUGIN is the babysit-plugin
# command line (default: the repository's .venv, else babysit-plugin on PATH).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BABYSITTER=${BABYSITTER:-$repo/node_modules/.bin/babysitter}
if [ -z "${BABYSIT_PLUGIN:-}" ]; then
    if [ -x "$repo/.venv/bin/babysit-plugin" ]; then
        BABYSIT_PLUGIN=$repo/.venv/bin/babysit-plugin
    else
        BABYSIT_PLUGIN=babysit-plugin
    fi
fi
if [ ! -x "$BABYSITTER" ] && ! command -v "$BABYSITTER" >/dev/null 2>&1; then
    echo "examples/run.sh: no babysitter CLI at $BABYSITTER; run 'npm ci --ignore-scripts' in $repo or set BABYSITTER" >&2
    exit 1
fi

hook=no
if [ "${1:-}" = "--hook" ]; then
    hook=yes
    shift
fi
project=${1:-$(mktemp -d "${TMPDIR:-/tmp}/babysit-plugin-example.XXXXXX")}
mkdir -p "$project/.a5c/processes"
cp "$here/process.js" "$project/.a5c/processes/example.js"
cd "$project"
if [ "$hook" = yes ]; then
    $BABYSIT_PLUGIN install "$project" --with-dispatcher --skills-dir .agents/skills
fi

field() {  # field NAME < JSON: print one top-level field of a JSON object
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s)[process.argv[1]]))' "$1"
}

started=$(date +%s.%N)
run_dir=$("$BABYSITTER" run:create --process-id examples/parallel \
    --entry "$project/.a5c/processes/example.js#process" \
    --inputs "$here/inputs.json" --json | field runDir)
echo "run: $run_dir"

while :; do
    status=$("$BABYSITTER" run:iterate "$run_dir" --json | field status)
    echo "run:iterate -> $status"
    case $status in
        completed) break ;;
        failed) echo "the run failed; see $run_dir/journal" >&2; exit 1 ;;
        waiting)
            $BABYSIT_PLUGIN dispatch "$run_dir" \
                --harness-command "python3 '$here/stand-in-agent.py' {task_file}"
            ;;
        *) ;;  # executed: the on-iteration-start hook performed a group; iterate again
    esac
done

finished=$(date +%s.%N)
echo "output:"
cat "$run_dir/state/output.json"
awk -v a="$started" -v b="$finished" 'BEGIN { printf "\ndone in %.1f s\n", b - a }'
