#!/usr/bin/env bash
# HTTP throughput of `camserve serve` measured with wrk (Debian package; `tools/install-deps --bench`):
# POST hot_dog.jpg as image/jpeg to /v1/models/mobilenetv2-imagenet/cam at 8 connections for 10 s.
# Prints req/s, p50/p99 latency, non-2xx answers, the ratio to the compute bound
#   cores x 1000 / (camserve bench median ms at 1 thread)    (measured in the same run)
# and the server's RSS at start and at the end.
#   tools/bench-http.sh            the 10 s run
#   tools/bench-http.sh --soak     then 20,000 requests in a row (SOAK=N), which must produce no 5xx
# Env: SHARED=../shared BIN=build/camserve CONNECTIONS=8 DURATION=10 WRK_THREADS=2 SOAK=20000
#      SERVE_FLAGS="..." (extra flags for camserve serve)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${BIN:-build/camserve}
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-10}
WRK_THREADS=${WRK_THREADS:-2}
SOAK=${SOAK:-20000}
MODEL=mobilenetv2-imagenet
IMAGE="$SHARED/images/hot_dog.jpg"
soak=0
[ "${1:-}" = "--soak" ] && soak=1

command -v wrk >/dev/null || { echo "bench-http: wrk is not installed (tools/install-deps --bench)" >&2; exit 1; }
[ -f "$IMAGE" ] || { echo "bench-http: $IMAGE not found" >&2; exit 1; }
cores=$(nproc)

# the compute bound: forward passes per second on every core, one thread each
b=$("$BIN" bench --model "$SHARED/models/$MODEL" --threads 1 --runs 50)
median=$(echo "$b" | sed -nE 's/.*"median_ms":([0-9.]+).*/\1/p')
bound=$(awk -v c="$cores" -v m="$median" 'BEGIN{printf "%.1f", c * 1000 / m}')
echo "compute bound: $cores cores x 1000 / $median ms (camserve bench, 1 thread) = $bound req/s"

log=$(mktemp /tmp/camserve-bench-http.XXXXXX)
"$BIN" serve --host 127.0.0.1 --port 0 --models "$SHARED/models" ${SERVE_FLAGS:-} 2>"$log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT

port=""
for _ in $(seq 300); do
  port=$(sed -nE 's/.*listening on http:\/\/[^ ]*:([0-9]+).*/\1/p' "$log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "bench-http: the server did not start" >&2; cat "$log" >&2; exit 1; }
# readiness over bash's /dev/tcp: no curl needed
ready=0
for _ in $(seq 300); do
  if exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3
    line=$(head -n1 <&3 || true)
    exec 3<&- 3>&-
    case "$line" in *" 200 "*) ready=1; break ;; esac
  fi
  sleep 0.1
done
[ $ready -eq 1 ] || { echo "bench-http: the server did not become ready" >&2; cat "$log" >&2; exit 1; }
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
url="http://127.0.0.1:$port/v1/models/$MODEL/cam"
export BENCH_IMAGE="$IMAGE" BENCH_TYPE=image/jpeg BENCH_THREADS="$WRK_THREADS"

# a short warm-up so that the first connections' costs do not count
BENCH_LIMIT=0 wrk -t1 -c2 -d2s -s tools/bench-http.lua "$url" >/dev/null
rss_start=$(rss)

out=$(BENCH_LIMIT=0 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s tools/bench-http.lua "$url")
line=$(echo "$out" | grep '^BENCH ')
field() { echo "$line" | sed -nE "s/.* $1=([0-9.]+).*/\1/p"; }
rps=$(field rps)
non2xx=$(( $(field s4xx) + $(field s5xx) + $(field other) ))
rss_mid=$(rss)
printf '\nwrk: %s connections, %s s, POST %s (%s bytes) to /v1/models/%s/cam\n' "$CONNECTIONS" "$DURATION" \
  "$(basename "$IMAGE")" "$(stat -c %s "$IMAGE")" "$MODEL"
printf '  requests     %s (%s s)\n' "$(field requests)" "$(field seconds)"
printf '  req/s        %s\n' "$rps"
printf '  latency      p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n' "$(field p50_ms)" "$(field p90_ms)" \
  "$(field p99_ms)" "$(field max_ms)"
printf '  non-2xx      %s (5xx %s), socket errors %s\n' "$non2xx" "$(field s5xx)" "$(field socket_errors)"
printf '  vs bound     %s / %s = %s\n' "$rps" "$bound" "$(awk -v a="$rps" -v b="$bound" 'BEGIN{printf "%.2f", a / b}')"
printf '  server RSS   %s MB at start, %s MB after the run\n' "$rss_start" "$rss_mid"

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
