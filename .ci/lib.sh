# lib.sh - sourced by the .ci stage scripts (not run on its own).
# Each stage labels the containers it starts and removes them at its start
# (leftovers of an interrupted run) and when it exits.

SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo

# ci_remove_labelled LABEL: removes every container carrying LABEL (key=value).
ci_remove_labelled() {
  local ids
  ids=$(docker ps -aq --filter "label=$1" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    echo "$(basename "$0" .sh): removing containers labelled $1: $(echo $ids)"
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
}

# ci_own_label LABEL [extra cleanup command]: removes LABEL's containers now
# and again on exit, running the extra command (if any) both times too.
ci_own_label() {
  CI_LABEL=$1
  CI_EXTRA_CLEANUP=${2:-}
  trap 'ci_remove_labelled "$CI_LABEL"; [ -z "$CI_EXTRA_CLEANUP" ] || eval "$CI_EXTRA_CLEANUP"' EXIT
  ci_remove_labelled "$CI_LABEL"
  [ -z "$CI_EXTRA_CLEANUP" ] || eval "$CI_EXTRA_CLEANUP"
}
