#!/usr/bin/env bash
# make test: runs each suite (a make target: deps and build by their names, any other NAME as test-NAME)
# and prints one line per suite, "ok" or "FAIL", with its time. A failing suite's output follows its line
# (the last $TEST_TAIL lines; the whole log is kept and named). A failure of deps or build stops the run;
# after any other failure the remaining suites still run. Exit status 1 when any suite failed.
# Usage: scripts/test-all.sh SUITE...   (MAKE: the make to run, default make)
set -uo pipefail
make=${MAKE:-make}
tail_lines=${TEST_TAIL:-200}
# One log directory per run, so that runs in other checkouts never mix their logs.
logs=${TEST_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/agent-vault-test.XXXXXX")}
mkdir -p "$logs"
failed=()
tools_pid=
for suite in "$@"; do
  case $suite in
    deps|build) target=$suite ;;
    *) target=test-$suite ;;
  esac
  # The release suite's tools (goreleaser: minutes to compile on a new machine) are built in the background,
  # at low priority, while the other suites run; the release suite waits for them.
  if [ "$suite" = release ] && [ -n "$tools_pid" ]; then
    wait "$tools_pid" || true
    tools_pid=
  fi
  log=$logs/$suite.log
  start=$SECONDS
  "$make" --no-print-directory "$target" >"$log" 2>&1
  status=$?
  took=$((SECONDS - start))
  if [ $status -eq 0 ]; then
    printf 'ok    %-10s %4ds\n' "$suite" "$took"
    if [ "$suite" = build ] && [[ " $* " == *" release "* ]]; then
      nice -n 10 "$make" --no-print-directory release-tools >"$logs/release-tools.log" 2>&1 &
      tools_pid=$!
    fi
    continue
  fi
  printf 'FAIL  %-10s %4ds  (make %s exited %d; full log: %s)\n' "$suite" "$took" "$target" "$status" "$log"
  tail -n "$tail_lines" "$log" | sed 's/^/      | /'
  failed+=("$suite")
  case $suite in deps|build) break ;; esac
done
[ -z "$tools_pid" ] || wait "$tools_pid" || true
if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: FAILED: ${failed[*]}"
  exit 1
fi
echo "make test: all $# suites passed"
