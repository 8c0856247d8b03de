#!/usr/bin/env bash
# Runs make suites in stages and prints how long each took, also when some fail.
#
#   scripts/run-suites.sh "typecheck test-unit" "test-int-single" "test-stack|e2e" ...
#
# Each argument is a stage, run after the previous one; suites in a stage that
# are joined by "|" run at the same time, each with its output in
# .stack/test-logs/<suite>.log, printed whole when it ends (so logs do not
# interleave). Every suite runs even when an earlier one failed; the exit code
# is non-zero if any did.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.stack/test-logs
mkdir -p "$logs"

declare -a names=() seconds=() results=()
run_started=$(date +%s)

record() { names+=("$1"); seconds+=("$2"); results+=("$3"); }

run_one() { # suite, logfile or "" for the terminal
  local suite=$1 log=$2 start rc
  start=$(date +%s)
  if [ -z "$log" ]; then
    echo "=== $suite"
    make --no-print-directory "$suite"
  else
    make --no-print-directory "$suite" >"$log" 2>&1
  fi
  rc=$?
  echo "$(( $(date +%s) - start )) $rc" >"$logs/$suite.result"
  return $rc
}

for stage in "$@"; do
  IFS='|' read -r -a together <<<"$stage"
  for group in "${together[@]}"; do
    read -r -a suites <<<"$group"
    if [ "${#together[@]}" -eq 1 ]; then
      for suite in "${suites[@]}"; do run_one "$suite" ""; done
    fi
  done
  if [ "${#together[@]}" -gt 1 ]; then
    # Concurrent groups: each group's suites run in order, groups side by side.
    pids=()
    for group in "${together[@]}"; do
      read -r -a suites <<<"$group"
      (for suite in "${suites[@]}"; do run_one "$suite" "$logs/$suite.log"; done) &
      pids+=($!)
      echo "=== started together: ${suites[*]} (logs in $logs/)"
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    for group in "${together[@]}"; do
      read -r -a suites <<<"$group"
      for suite in "${suites[@]}"; do
        echo "=== $suite (ran concurrently; its whole log follows)"
        cat "$logs/$suite.log"
      done
    done
  fi
  for group in "${together[@]}"; do
    read -r -a suites <<<"$group"
    for suite in "${suites[@]}"; do
      read -r secs rc <"$logs/$suite.result"
      record "$suite" "$secs" "$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")"
    done
  done
done

total=$(( $(date +%s) - run_started ))
failed=0
echo
echo "=== suite times"
printf '%-22s %8s  %s\n' suite seconds result
for i in "${!names[@]}"; do
  printf '%-22s %8s  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
  [ "${results[$i]}" = passed ] || failed=$((failed + 1))
done
printf '%-22s %8s\n' "whole run (wall clock)" "$total"
passed=$(( ${#names[@]} - failed ))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
