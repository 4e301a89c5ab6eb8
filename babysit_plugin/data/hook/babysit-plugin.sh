#!/bin/sh
# babysit-plugin-file: hook; created-dirs: @CREATED_DIRS@
#
# The babysit-plugin on-iteration-start hook, written by `babysit-plugin install`
# (`babysit-plugin install --uninstall` removes it). The babysitter SDK's
# `run:iterate` runs it through the babysitter plugin's hook-dispatcher.sh with
# the iteration's payload on stdin (also in $HOOK_PAYLOAD), the project root as
# the working directory, and kills the dispatcher after 30 seconds.
#
# `run:iterate` calls on-iteration-start twice: first while it holds the run lock,
# with no "pending" field (nothing to do), then with the pending actions. Python
# starts only for the second call when at least one action is pending; it runs
# the pending parallel group within the hook's time budget and prints the decision
# JSON, the only thing written to stdout.
python=@PYTHON@
payload=$(cat)
if [ -z "$payload" ]; then
  payload=${HOOK_PAYLOAD-}
fi
case $payload in
  *'"pending"'*) ;;
  *) exit 0 ;;
esac
if [ ! -x "$python" ]; then
  echo "babysit-plugin hook: $python is not there any more; run 'babysit-plugin install' again from the environment that has babysit-plugin" >&2
  exit 0
fi
repo=$(CDPATH='' cd -- "$(dirname -- "$0")/../../.." && pwd)
printf '%s\n' "$payload" | "$python" -m babysit_plugin hook --repo "$repo"
