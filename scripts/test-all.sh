#!/usr/bin/env bash
# make test: runs each suite (a make target: deps and build by their names, any other NAME as test-NAME)
# and prints one line per suite, "ok" or "FAIL", with its time. A failing suite's output follows its line
# (the last $TEST_TAIL lines; the whole log is kept and named). A failure of deps or build stops the run;
# after any other failure the remaining suites still run. Exit status 1 when any suite failed.
# Usage: scripts/test-all.sh SUITE...   (MAKE: the make to run, default make)
set -uo pipefail
make=${MAKE:-make}
tail_lines=${TEST_TAIL:-200}
logs=${TEST_LOG_DIR:-${TMPDIR:-/tmp}/agent-vault-test-logs}
mkdir -p "$logs"
failed=()
for suite in "$@"; do
  case $suite in
    deps|build) target=$suite ;;
    *) target=test-$suite ;;
  esac
  log=$logs/$suite.log
  start=$SECONDS
  "$make" --no-print-directory "$target" >"$log" 2>&1
  status=$?
  took=$((SECONDS - start))
  if [ $status -eq 0 ]; then
    printf 'ok    %-10s %4ds\n' "$suite" "$took"
    continue
  fi
  printf 'FAIL  %-10s %4ds  (make %s exited %d; full log: %s)\n' "$suite" "$took" "$target" "$status" "$log"
  tail -n "$tail_lines" "$log" | sed 's/^/      | /'
  failed+=("$suite")
  case $suite in deps|build) break ;; esac
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: FAILED: ${failed[*]}"
  exit 1
fi
echo "make test: all $# suites passed"
