#!/usr/bin/env bash
# `camserve` under valgrind memcheck, for `make valgrind`: the test suites start it as their server
# binary (CAMSERVE_BIN=tools/valgrind-serve.sh).  Each process writes its report to
# $VALGRIND_LOGDIR/camserve.<pid>.log; errors and definite leaks make it exit 99, which the suites see
# as a failed exit code, and `make valgrind` also reads every report.
# Env: VALGRIND_BIN (the camserve binary, default build/camserve), VALGRIND_LOGDIR (default build/valgrind)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${VALGRIND_BIN:-$root/build/camserve}
logdir=${VALGRIND_LOGDIR:-$root/build/valgrind}
mkdir -p "$logdir"
exec valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --error-exitcode=99 --track-origins=yes --num-callers=30 --suppressions="$root/tests/valgrind.supp" \
  --log-file="$logdir/camserve.%p.log" "$bin" "$@"
