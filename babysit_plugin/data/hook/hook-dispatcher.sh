#!/bin/bash
# babysit-plugin-file: dispatcher; created-dirs: @CREATED_DIRS@
#
# A hook dispatcher for the babysitter SDK, written by
# `babysit-plugin install --with-dispatcher` (`--uninstall` removes it).
#
# The SDK (0.0.187, dist/hooks/dispatcher.js) runs every hook as
# `bash <dispatcher> <hook-type>` with the payload JSON on stdin and the project
# root as the working directory, and looks for the dispatcher only at
# $CLAUDE_PLUGIN_ROOT/hooks/hook-dispatcher.sh (Claude Code harness) or at
# plugins/babysitter/hooks/hook-dispatcher.sh in the project root or a parent.
# The babysitter plugin of that SDK version ships none, so without this file
# `run:iterate` never runs the hooks in .a5c/hooks/.
#
# What it does, the documented contract of the babysitter plugin's dispatcher:
# run each executable *.sh file, in name order, of
#   <repo>/.a5c/hooks/<hook-type>/                            (per-repo)
#   ${XDG_CONFIG_HOME:-$HOME/.config}/babysitter/hooks/<hook-type>/  (per-user)
#   <this plugin>/hooks/<hook-type>/                          (plugin)
# with the payload on stdin and in $HOOK_PAYLOAD ($HOOK_TYPE names the type).
# The hooks' stdout is this script's stdout (the SDK parses it as the
# decision); one summary line per hook goes to stderr as
# <location>:<file>:success or <location>:<file>:failed:<code>, which the SDK
# counts. A failing hook does not stop the others; the exit status is 0.
set -u

hook_type=${1:-}
if [ -z "$hook_type" ]; then
  echo "usage: hook-dispatcher.sh HOOK_TYPE < payload.json" >&2
  exit 2
fi

HOOK_PAYLOAD=$(cat)
HOOK_TYPE=$hook_type
export HOOK_PAYLOAD HOOK_TYPE

repo_root=${REPO_ROOT:-}
if [ -z "$repo_root" ]; then
  dir=$PWD
  while [ "$dir" != "/" ]; do
    if [ -d "$dir/.a5c" ] || [ -d "$dir/.git" ]; then
      repo_root=$dir
      break
    fi
    dir=$(dirname "$dir")
  done
fi
plugin_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
user_hooks=${XDG_CONFIG_HOME:-$HOME/.config}/babysitter/hooks

summary=()

run_hooks() {
  local dir=$1 location=$2 hook code
  [ -d "$dir" ] || return 0
  local -a hooks=()
  while IFS= read -r -d '' hook; do
    hooks+=("$hook")
  done < <(find "$dir" -maxdepth 1 -name '*.sh' -type f -perm -u+x -print0 2>/dev/null | LC_ALL=C sort -z)
  for hook in ${hooks[@]+"${hooks[@]}"}; do
    printf '%s' "$HOOK_PAYLOAD" | "$hook"
    code=$?
    if [ "$code" -eq 0 ]; then
      summary+=("$location:$(basename "$hook"):success")
    else
      summary+=("$location:$(basename "$hook"):failed:$code")
    fi
  done
}

if [ -n "$repo_root" ]; then
  run_hooks "$repo_root/.a5c/hooks/$hook_type" per-repo
fi
run_hooks "$user_hooks/$hook_type" per-user
run_hooks "$plugin_root/hooks/$hook_type" plugin

if [ ${#summary[@]} -gt 0 ]; then
  printf '%s\n' "${summary[@]}" >&2
fi
exit 0
