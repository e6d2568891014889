#!/usr/bin/env bash
# Overload: many more concurrent clients than the server can hold, each POSTing hot_dog.jpg to /v1/cam
# (build/tools/stress-client, keep-alive connections, latency taken per request at the client).
#
# Before each overload phase, the unloaded reference is measured in the same run: WORKERS concurrent
# clients for BASE_SECONDS (every worker busy, nothing waits in the queue); 1 client is printed too.
# The machine is shared, so each phase is compared with the reference taken just before it.
# Overload phases, DURATION seconds each with CLIENTS concurrent clients (>= 5 x what the queue holds):
#   polite   clients wait Retry-After after a 503 (what a well-behaved client or proxy does)
#   hammer   clients ignore Retry-After and send again at once, body and all (an abusive client)
# Then /healthz and /readyz must answer 200, and SIGTERM must exit 0.
# Checks, every phase: only 200 and 503 answers, every 503 with Retry-After, no socket errors, some of
# each.  The phases in BOUND_PHASES (default: polite) must also keep the p99 of the accepted (200)
# requests <= BOUND x the unloaded p99; the others print their ratio.  Why not hammer: a client that
# ignores Retry-After makes the server read and drop thousands of 200 KB bodies a second (7,300/s
# measured here), CPU that the 2 workers then lack on a 2-core machine where the load generator runs
# too; see SECURITY.md.  Exit 1 when a check fails.
#
# Why the queue is small: an accepted request waits for the requests ahead of it.  With WORKERS = 2 and
# the queue always full, a request that gets the last place in a queue of 2 waits for two completions,
# one of them a whole service time: ~2x the unloaded latency by construction (measured 1.1x to 2.5x,
# depending on the other load on this shared machine).  With a queue of 1 it waits only for the first
# of the two workers to finish: ~1.5x.  So QUEUE = WORKERS / 2 (at least 1) here.  camserve's default
# --queue 64 favours absorbing bursts over latency; SECURITY.md says how to choose it.
# The reference clients honour Retry-After too: with a queue smaller than the workers a request can
# find the queue full in the moment before an idle worker takes the job ahead of it, and a client
# that retried at once would spin on such 503s and slow the reference down.
# Env: SHARED=../shared BIN=build/camserve CLIENT=build/tools/stress-client WORKERS=2 QUEUE=WORKERS/2
#      CLIENTS=40 DURATION=30 BASE_SECONDS=10 BOUND=2 PHASES="polite hammer" BOUND_PHASES=polite
#      SERVE_FLAGS="..."
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${BIN:-build/camserve}
CLIENT=${CLIENT:-build/tools/stress-client}
WORKERS=${WORKERS:-2}
QUEUE=${QUEUE:-$(( WORKERS / 2 > 1 ? WORKERS / 2 : 1 ))}
CLIENTS=${CLIENTS:-40}
DURATION=${DURATION:-30}
BASE_SECONDS=${BASE_SECONDS:-10}
BOUND=${BOUND:-2}
PHASES=${PHASES:-polite hammer}
BOUND_PHASES=${BOUND_PHASES:-polite}
IMAGE="$SHARED/images/hot_dog.jpg"
[ -f "$IMAGE" ] || { echo "stress-overload: $IMAGE not found" >&2; exit 1; }
[ -x "$CLIENT" ] || { echo "stress-overload: $CLIENT not built (make $CLIENT)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/camserve-overload.XXXXXX)
log="$tmp/server.log"
"$BIN" serve --host 127.0.0.1 --port 0 --models "$SHARED/models" --default-model mobilenetv2-imagenet \
  --workers "$WORKERS" --threads 1 --queue "$QUEUE" ${SERVE_FLAGS:-} 2>"$log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# shellcheck source=tools/serve-wait.sh
. "$(dirname "$0")/serve-wait.sh"
serve_wait stress-overload

printf 'POST\t/v1/cam\timage/jpeg\t%s\t200,503\n' "$IMAGE" >"$tmp/spec.tsv"
run() { "$CLIENT" --port "$port" --spec "$tmp/spec.tsv" "$@" 2>>"$tmp/client.err" | grep '^RESULT '; }
field() { echo "$1" | sed -nE "s/.* $2=([0-9.]+).*/\1/p"; }

echo "camserve serve --workers $WORKERS --threads 1 --queue $QUEUE; $(nproc) cores; POST $(basename "$IMAGE") to /v1/cam"
run --connections 2 --requests 20 >/dev/null   # warm-up
one=$(run --connections 1 --duration "$BASE_SECONDS")
printf '  unloaded, 1 client:   %s req/s, p50 %s ms, p99 %s ms\n' "$(field "$one" rps)" "$(field "$one" p50_200)" \
  "$(field "$one" p99_200)"
reference() {
  base=$(run --connections "$WORKERS" --duration "$BASE_SECONDS" --honor-retry-after)
  base_p99=$(field "$base" p99_200)
  printf '  unloaded, %s clients:  %s req/s, p50 %s ms, p99 %s ms, %s x 503\n' "$WORKERS" "$(field "$base" rps)" \
    "$(field "$base" p50_200)" "$base_p99" "$(field "$base" s503 || true)"
}

status=0
fail() { echo "  FAIL: $*"; status=1; }
for phase in $PHASES; do
  case $phase in
    polite) opts=(--honor-retry-after) ;;
    hammer) opts=() ;;
    *) echo "stress-overload: unknown phase $phase" >&2; exit 2 ;;
  esac
  reference
  r=$(run --connections "$CLIENTS" --duration "$DURATION" "${opts[@]}")
  s200=$(field "$r" s200); s503=$(field "$r" s503); p99=$(field "$r" p99_200); secs=$(field "$r" seconds)
  s200=${s200:-0}; s503=${s503:-0}
  ratio=$(awk -v a="$p99" -v b="$base_p99" 'BEGIN{printf "%.2f", a / b}')
  printf '  overload %s: %s clients, %s s: %s x 200 (%.1f/s), %s x 503 (%.0f/s); 200s: p50 %s ms, p90 %s ms, p99 %s ms = %sx the unloaded p99\n' \
    "$phase" "$CLIENTS" "$secs" "$s200" "$(awk -v n="$s200" -v t="$secs" 'BEGIN{print n/t}')" \
    "$s503" "$(awk -v n="$s503" -v t="$secs" 'BEGIN{print n/t}')" "$(field "$r" p50_200)" \
    "$(field "$r" p90_200)" "$p99" "$ratio"
  [ "$(field "$r" unexpected)" -eq 0 ] || fail "$phase: answers other than 200 and 503: $r"
  [ "$(field "$r" errors)" -eq 0 ] || fail "$phase: $(field "$r" errors) socket errors"
  [ "$(field "$r" no_retry_after)" -eq 0 ] || fail "$phase: $(field "$r" no_retry_after) 503s without Retry-After"
  [ "$s200" -gt 0 ] && [ "$s503" -gt 0 ] || fail "$phase: not overloaded, or nothing served ($s200 x 200, $s503 x 503)"
  case " $BOUND_PHASES " in
    *" $phase "*)
      awk -v a="$p99" -v b="$base_p99" -v k="$BOUND" 'BEGIN{exit !(a <= k * b)}' ||
        fail "$phase: p99 of accepted requests $p99 ms > $BOUND x $base_p99 ms" ;;
    *) echo "    ($phase: the ${BOUND}x bound is not asserted, see the header of this script)" ;;
  esac
done

h=$(http_status /healthz); rd=$(http_status /readyz)
echo "  afterwards: /healthz $h, /readyz $rd; server RSS $(awk '/^VmRSS:/ {printf "%.1f MB", $2 / 1024}' /proc/$pid/status)"
[ "$h" = 200 ] && [ "$rd" = 200 ] || fail "not healthy afterwards"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
trap - EXIT
[ $rc -eq 0 ] || fail "server exit code on SIGTERM: $rc"
[ -s "$tmp/client.err" ] && sed 's/^/  client: /' "$tmp/client.err"
rm -rf "$tmp"
[ $status -eq 0 ] && echo "stress-overload: ok" || echo "stress-overload: FAILED"
exit $status
