#!/usr/bin/env bash
# HTTP throughput of `camserve serve` measured with wrk (Debian package; `tools/install-deps --bench`):
# POST hot_dog.jpg as image/jpeg to /v1/models/mobilenetv2-imagenet/cam at 8 connections for 10 s.
# Prints req/s, p50/p99 latency, non-2xx answers, the ratio to the compute bound
#   cores x 1000 / (camserve bench median ms at 1 thread)    (measured in the same run)
# and the server's RSS at start and at the end.  The 10 s run is repeated (RUNS, default 3) with a
# `camserve bench` before, between and after them, and the median of their ratios is the summary:
# on this shared 2-core machine one run's ratio moves by +-6-10 % (the bench's median alone by 10-20 %
# from one minute to the next), so one run says little about the next.  Every run is printed.
#   tools/bench-http.sh            the 10 s runs
#   tools/bench-http.sh --soak     then 20,000 requests in a row (SOAK=N), which must produce no 5xx
# Then, per request: each stage's wall time and the worker's CPU time in it (from /metrics),
# the server's CPU time (all threads) and wrk's (so that the ratio can be
# explained), and the latency of one connection alone (UNLOADED seconds).
# Env: SHARED=../shared BIN=build/camserve CONNECTIONS=8 DURATION=10 RUNS=3 WRK_THREADS=2 SOAK=20000 UNLOADED=5
#      SERVE_FLAGS="..." (extra flags for camserve serve)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${BIN:-build/camserve}
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WRK_THREADS=${WRK_THREADS:-2}
SOAK=${SOAK:-20000}
MODEL=mobilenetv2-imagenet
IMAGE="$SHARED/images/hot_dog.jpg"
soak=0
[ "${1:-}" = "--soak" ] && soak=1

command -v wrk >/dev/null || { echo "bench-http: wrk is not installed (tools/install-deps --bench)" >&2; exit 1; }
[ -f "$IMAGE" ] || { echo "bench-http: $IMAGE not found" >&2; exit 1; }
cores=$(nproc)

# the compute bound: forward passes per second on every core, one thread each.
# The 1-thread median moves by 10-20 % from minute to minute on this shared
# machine, so it is taken before and after each wrk run and that run's bound
# uses their mean.
bench_median() {
  "$BIN" bench --model "$SHARED/models/$MODEL" --threads 1 --runs 50 | sed -nE 's/.*"median_ms":([0-9.]+).*/\1/p'
}
median_before=$(bench_median)

log=$(mktemp /tmp/camserve-bench-http.XXXXXX)
"$BIN" serve --host 127.0.0.1 --port 0 --models "$SHARED/models" ${SERVE_FLAGS:-} 2>"$log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; rm -f "$log" "${times_file:-}"; }
trap cleanup EXIT

# shellcheck source=tools/serve-wait.sh
. "$(dirname "$0")/serve-wait.sh"
serve_wait bench-http
grep -E "BLAS kernel|ready:" "$log" | sed 's/^/server: /'

rss() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
# GET over /dev/tcp (HTTP/1.0: the server closes after the answer)
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3
  cat <&3
  exec 3<&- 3>&-
}
# answers of the CAM route so far, whatever their status
answered() {
  http_get /metrics | awk '/^camserve_requests_total\{route="\/v1\/models\/\{model\}\/cam"/ {s += $2} END {print s + 0}'
}
# requests of the CAM route so far, by status class: "2xx 4xx 5xx other 499"
# (499: the client went away before the answer, as wrk's connections do when
# it stops at the end of its run; nothing was sent)
answered_by_class() {
  http_get /metrics | awk '/^camserve_requests_total\{route="\/v1\/models\/\{model\}\/cam"/ {
    match($0, /code="[0-9]+"/); code = substr($0, RSTART + 6, 3); c = substr(code, 1, 1)
    if (code == "499") c = "g"; else if (c != "2" && c != "4" && c != "5") c = "o"; n[c] += $2 }
    END {printf "%d %d %d %d %d\n", n["2"], n["4"], n["5"], n["o"], n["g"]}'
}
url="http://127.0.0.1:$port/v1/models/$MODEL/cam"
export BENCH_IMAGE="$IMAGE" BENCH_TYPE=image/jpeg BENCH_THREADS="$WRK_THREADS"

# a short warm-up so that the first connections' costs do not count
BENCH_LIMIT=0 wrk -t1 -c2 -d2s -s tools/bench-http.lua "$url" >/dev/null
rss_start=$(rss)

# where a request's time goes: the server's CPU time (all its threads) and
# its per-stage sums from /metrics, both as differences over the run
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) * 1000 / hz}' "/proc/$pid/stat"; }
# (wall time as "stage=s", the worker thread's CPU time as "stage_cpu=s")
stages() { http_get /metrics | awk '/^camserve_stage_(cpu_)?seconds_total/ {
  cpu = index($0, "_cpu_") ? "_cpu" : ""
  match($0, /stage="[a-z]+"/); printf "%s%s=%s ", substr($0, RSTART + 7, RLENGTH - 8), cpu, $2 }
  /^camserve_inferences_total / {printf "n=%s", $2}'; }
# the CPU time of this shell's finished child processes (second line of bash's
# `times`, which must run in this shell, not in a $(...) subshell), for wrk's share
children_ms() { awk 'NR == 2 { split($0, t, /[ms ]+/); printf "%.1f", (t[1] * 60 + t[2] + t[3] * 60 + t[4]) * 1000 }' "$times_file"; }
run_once() {
  times_file=$(mktemp /tmp/camserve-bench-times.XXXXXX)
  cpu0=$(cpu_ms); st0=$(stages); cls0=$(answered_by_class); times >"$times_file"; wrk0=$(children_ms)
  out=$(BENCH_LIMIT=0 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s tools/bench-http.lua "$url")
  times >"$times_file"; wrk1=$(children_ms); rm -f "$times_file"; cpu1=$(cpu_ms); st1=$(stages); cls1=$(answered_by_class)
  median_after=$(bench_median)
  median=$(awk -v a="$median_before" -v b="$median_after" 'BEGIN{printf "%.3f", (a + b) / 2}')
  bound=$(awk -v c="$cores" -v m="$median" 'BEGIN{printf "%.1f", c * 1000 / m}')
  line=$(echo "$out" | grep '^BENCH ')
  field() { echo "$line" | sed -nE "s/.* $1=([0-9.]+).*/\1/p"; }
  rps=$(field rps)
  # wrk counts answers >= 400 (bench-http.lua has no per-answer callback in this
  # run, see there); the server's /metrics gives the split by class.  Answers the
  # server sent after wrk stopped reading count there but not in wrk.
  read -r c2 c4 c5 co cg <<<"$(paste -d' ' <(echo "$cls0") <(echo "$cls1") | awk '{print $6-$1, $7-$2, $8-$3, $9-$4, $10-$5}')"
  non2xx=$(( $(field s4xx) + $(field s5xx) + $(field other) ))
  rss_mid=$(rss)
  printf '\nrun %s of %s, wrk: %s connections, %s s, POST %s (%s bytes) to /v1/models/%s/cam\n' "$1" "$RUNS" "$CONNECTIONS" "$DURATION" \
    "$(basename "$IMAGE")" "$(stat -c %s "$IMAGE")" "$MODEL"
  echo "  bound        $cores cores x 1000 / $median ms (camserve bench, 1 thread: $median_before before the run, $median_after after) = $bound req/s"
  printf '  requests     %s (%s s)\n' "$(field requests)" "$(field seconds)"
  printf '  req/s        %s\n' "$rps"
  printf '  latency      p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n' "$(field p50_ms)" "$(field p90_ms)" \
    "$(field p99_ms)" "$(field max_ms)"
  printf '  non-2xx      %s (wrk: answers >= 400); server: %s 2xx, %s 4xx, %s 5xx, %s other, %s cut off by wrk at the end (499); socket errors %s\n' \
    "$non2xx" "$c2" "$c4" "$c5" "$co" "$cg" "$(field socket_errors)"
  ratio=$(awk -v a="$rps" -v b="$bound" 'BEGIN{printf "%.2f", a / b}')
  printf '  vs bound     %s / %s = %s\n' "$rps" "$bound" "$ratio"
  printf '  server RSS   %s MB at start, %s MB after the run\n' "$rss_start" "$rss_mid"
  # per request: each stage's wall time in the workers, and the server's CPU in all
  printf '%s\n%s\n' "$st0" "$st1" | awk -v c0="$cpu0" -v c1="$cpu1" -v fwd="$median" -v w0="$wrk0" -v w1="$wrk1" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2]; if (NR == 1) k[++nk] = kv[1] } }
    END {
      n = v[2, "n"] - v[1, "n"]; if (n <= 0) exit
      line = ""; cline = ""; t = 0; tc = 0
      for (i = 1; i <= nk; i++) if (k[i] != "n" && k[i] != "queue" && k[i] !~ /_cpu$/) {
        ms = (v[2, k[i]] - v[1, k[i]]) * 1000 / n; t += ms; line = line sprintf(" %s %.2f,", k[i], ms)
        c = k[i] "_cpu"; if ((1, c) in v) { ms = (v[2, c] - v[1, c]) * 1000 / n; tc += ms; cline = cline sprintf(" %s %.2f,", k[i], ms) } }
      cpu = (c1 - c0) / n
      printf "  per request %s sum %.2f ms (wall time in the workers)\n", line, t
      if (cline != "") printf "   worker CPU %s sum %.2f ms (wall minus CPU: waiting for a core)\n", cline, tc
      printf "  server CPU   %.2f ms per request (all threads: workers, I/O, the rest); wrk CPU %.2f ms\n", cpu, (w1 - w0) / n
      printf "  best ratio this CPU allows: %.2f (1-thread forward %.2f ms / %.2f ms CPU)\n", fwd / cpu, fwd, cpu }'
  ratios+=("$ratio")
  median_before=$median_after
}

ratios=()
for run in $(seq 1 "$RUNS"); do run_once "$run"; done
printf '\nratio to the compute bound, %s runs of %s s: %s; median %s\n' "$RUNS" "$DURATION" "${ratios[*]}" \
  "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
printf '  server RSS   %s MB at start, %s MB after the runs\n' "$rss_start" "$(rss)"

# unloaded latency: one connection, one request at a time
out1=$(BENCH_LIMIT=0 wrk -t1 -c1 -d"${UNLOADED:-5}s" --latency -s tools/bench-http.lua "$url")
line1=$(echo "$out1" | grep '^BENCH ')
printf '  unloaded     1 connection: p50 %s ms, p99 %s ms (%s req/s)\n' \
  "$(echo "$line1" | sed -nE 's/.* p50_ms=([0-9.]+).*/\1/p')" "$(echo "$line1" | sed -nE 's/.* p99_ms=([0-9.]+).*/\1/p')" \
  "$(echo "$line1" | sed -nE 's/.* rps=([0-9.]+).*/\1/p')"

status=0
if [ $soak -eq 1 ]; then
  # Each wrk thread stops after its share, but wrk itself waits out -d: stop it with
  # SIGINT (it then prints its summary) once the server has answered them all.
  base=$(answered)
  soak_out=$(mktemp /tmp/camserve-bench-soak.XXXXXX)
  BENCH_LIMIT="$SOAK" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d3600s -s tools/bench-http.lua "$url" >"$soak_out" &
  wpid=$!
  while kill -0 "$wpid" 2>/dev/null && [ $(( $(answered) - base )) -lt "$SOAK" ]; do sleep 0.5; done
  sleep 0.5
  kill -INT "$wpid" 2>/dev/null || true
  wait "$wpid" || true
  line=$(grep '^BENCH ' "$soak_out")
  rm -f "$soak_out"
  printf '\nsoak: %s requests in a row: %s 2xx, %s 4xx, %s 5xx, %s socket errors in %s s (%s req/s)\n' \
    "$(field requests)" "$(field s2xx)" "$(field s4xx)" "$(field s5xx)" "$(field socket_errors)" "$(field seconds)" "$(field rps)"
  printf '  server RSS   %s MB at start, %s MB after the soak\n' "$rss_start" "$(rss)"
  [ "$(field s5xx)" -eq 0 ] || status=1
fi

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
trap - EXIT
rm -f "$log"
echo "server exit code on SIGTERM: $rc"
[ $rc -eq 0 ] || status=1
exit $status
