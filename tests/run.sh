#!/usr/bin/env bash
# Runs every test binary given on the command line, shows their output, and
# prints the sum of their "N passed, N failed, N skipped" lines last.
set -u
passed=0; failed=0; skipped=0; crashed=0
# An argument VAR=VALUE@path runs path with VAR=VALUE in its environment.
for arg in "$@"; do
  t=$arg; envset=""
  case "$arg" in *=*@*) envset=${arg%%@*}; t=${arg#*@} ;; esac
  echo "== $(basename "$t")${envset:+ ($envset)}"
  if [ -n "$envset" ]; then out=$(env "$envset" "$t" 2>&1); rc=$?; else out=$("$t" 2>&1); rc=$?; fi
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL - $(basename "$t") exited $rc without a summary"; failed=$((failed + 1)); crashed=1; continue
  fi
  p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL - $(basename "$t") exited $rc"; failed=$((failed + 1)); fi
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] && [ "$crashed" -eq 0 ]
