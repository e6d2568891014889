#!/usr/bin/env bash
# Soak: REQUESTS (100,000) requests over a mix of valid and invalid inputs against one live
# `camserve serve`, with the server's RSS sampled every SAMPLE seconds (5).
#   valid:   raw JPEG and PNG, multipart/form-data, JSON with a base64 image (/v1/cam and
#            /v1/models/{model}/cam and /classify), GET /healthz /readyz /metrics /v1/models
#            /v1/models/{model} /openapi.json /
#   invalid: bad, unknown and non-numeric parameters, truncated and corrupt JPEG/PNG, random
#            bytes, empty bodies, JSON that is no object / invalid base64, multipart without
#            an image, wrong Content-Type, unknown paths and models, wrong methods
# Each request's status must be the one DESIGN §4 gives for it (build/tools/stress-client checks
# every answer).  WARMUP requests of the same mix run first; RSS then is "start".  Checks: no
# unexpected status, no socket error, all REQUESTS answered, RSS at the end <= start x (1 + GROWTH%),
# /healthz and /readyz 200 afterwards, exit 0 on SIGTERM.  Prints start, peak and end RSS.
# Env: SHARED=../shared BIN=build/camserve CLIENT=build/tools/stress-client REQUESTS=100000
#      WARMUP=5000 CONNECTIONS=4 SAMPLE=5 GROWTH=5 WORKERS=2 SERVE_FLAGS="..."
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=$(cd "${SHARED:-../shared}" && pwd)
BIN=${BIN:-build/camserve}
CLIENT=${CLIENT:-build/tools/stress-client}
REQUESTS=${REQUESTS:-100000}
WARMUP=${WARMUP:-5000}
CONNECTIONS=${CONNECTIONS:-4}
SAMPLE=${SAMPLE:-5}
GROWTH=${GROWTH:-5}
WORKERS=${WORKERS:-2}
MODEL=mobilenetv2-imagenet
I="$SHARED/images"
[ -f "$I/hot_dog.jpg" ] || { echo "stress-soak: $I/hot_dog.jpg not found" >&2; exit 1; }
[ -x "$CLIENT" ] || { echo "stress-soak: $CLIENT not built (make $CLIENT)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/camserve-soak.XXXXXX)
log="$tmp/server.log"
# queue 64 (the default): 4 clients never fill it, so a 503 is a failure here
"$BIN" serve --host 127.0.0.1 --port 0 --models "$SHARED/models" --default-model "$MODEL" \
  --workers "$WORKERS" --threads 1 --max-body-mb 4 ${SERVE_FLAGS:-} 2>"$log" &
pid=$!
sampler=""
cleanup() { kill "$pid" 2>/dev/null || true; [ -n "$sampler" ] && kill "$sampler" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# ---- the inputs ----
d="$tmp/in"
mkdir -p "$d"
head -c 20000 "$I/hot_dog.jpg" >"$d/truncated.jpg"                      # header fine, scan cut short
{ head -c 2000 "$I/hot_dog.jpg"; head -c 30000 /dev/urandom; } >"$d/corrupt.jpg"
{ head -c 33 "$I/cat.png"; head -c 30000 /dev/urandom; } >"$d/corrupt.png"   # IHDR, then garbage
head -c 50000 /dev/urandom >"$d/random.bin"
: >"$d/empty"
b=camservesoakboundary
{ printf -- '--%s\r\nContent-Disposition: form-data; name="image"; filename="g.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' $b
  cat "$I/grace_hopper.jpg"
  printf -- '\r\n--%s\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n3\r\n--%s--\r\n' $b $b; } >"$d/multipart"
{ printf -- '--%s\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n3\r\n--%s--\r\n' $b $b; } >"$d/multipart-noimage"
{ printf '{"image":"'; base64 -w0 "$I/dragonfly.jpg"; printf '","top_k":2,"colormap":"viridis"}'; } >"$d/json"
printf '[1,2,3]' >"$d/json-array"
printf '{"image":"!!!not base64!!!"}' >"$d/json-badb64"
{ printf '{"image":"'; base64 -w0 "$d/random.bin"; printf '"}'; } >"$d/json-random"

mp="multipart/form-data; boundary=$b"
spec="$tmp/spec.tsv"
{
  printf 'POST\t/v1/cam?cam_top_k=1&max_side=256\timage/jpeg\t%s\t200\n' "$I/hot_dog.jpg"
  printf 'GET\t/healthz\t-\t-\t200\n'
  printf 'POST\t/v1/cam?top_k=abc\timage/jpeg\t%s\t400\n' "$I/hot_dog.jpg"
  printf 'POST\t/v1/models/%s/classify\timage/png\t%s\t200\n' "$MODEL" "$I/cat.png"
  printf 'POST\t/v1/cam?threshold=2\timage/jpeg\t%s\t400\n' "$I/owl.jpg"
  printf 'POST\t/v1/cam\timage/jpeg\t%s\t400\n' "$d/truncated.jpg"
  printf 'GET\t/metrics\t-\t-\t200\n'
  printf 'POST\t/v1/cam?colormap=nope\timage/jpeg\t%s\t400\n' "$I/owl.jpg"
  printf 'POST\t/v1/cam\t%s\t%s\t200\n' "$mp" "$d/multipart"
  printf 'POST\t/v1/cam\timage/jpeg\t%s\t400\n' "$d/corrupt.jpg"
  printf 'GET\t/nope\t-\t-\t404\n'
  printf 'POST\t/v1/cam?bogus=1\timage/jpeg\t%s\t400\n' "$I/owl.jpg"
  printf 'POST\t/v1/cam\timage/png\t%s\t400\n' "$d/corrupt.png"
  printf 'GET\t/v1/models\t-\t-\t200\n'
  printf 'POST\t/v1/cam?heatmap=true&max_side=128\tapplication/json\t%s\t200\n' "$d/json"
  printf 'POST\t/v1/cam\timage/jpeg\t%s\t415\n' "$d/random.bin"
  printf 'POST\t/v1/cam\timage/jpeg\t%s\t400\n' "$d/empty"
  printf 'GET\t/v1/models/%s\t-\t-\t200\n' "$MODEL"
  printf 'POST\t/v1/cam\tapplication/json\t%s\t400\n' "$d/json-array"
  printf 'POST\t/v1/cam\tapplication/json\t%s\t400\n' "$d/json-badb64"
  printf 'POST\t/v1/cam\tapplication/json\t%s\t415\n' "$d/json-random"
  printf 'GET\t/readyz\t-\t-\t200\n'
  printf 'POST\t/v1/cam\t%s\t%s\t400\n' "$mp" "$d/multipart-noimage"
  printf 'POST\t/v1/cam\ttext/plain\t%s\t415\n' "$I/owl.jpg"
  printf 'POST\t/v1/models/nope/cam\timage/jpeg\t%s\t404\n' "$I/owl.jpg"
  printf 'GET\t/v1/cam\t-\t-\t405\n'
  printf 'GET\t/openapi.json\t-\t-\t200\n'
  printf 'POST\t/v1/cam?max_side=9999\timage/jpeg\t%s\t400\n' "$I/owl.jpg"
  printf 'GET\t/\t-\t-\t200\n'
  printf 'GET\t/static/../../etc/passwd\t-\t-\t400,404\n'
} >"$spec"

# ---- the server ----
# shellcheck source=tools/serve-wait.sh
. "$(dirname "$0")/serve-wait.sh"
serve_wait stress-soak

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
field() { echo "$1" | sed -nE "s/.* $2=([0-9.]+).*/\1/p"; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }

echo "stress-soak: $(wc -l <"$spec") kinds of request, $CONNECTIONS connections; warm-up $WARMUP, then $REQUESTS"
status=0
fail() { echo "  FAIL: $*"; status=1; }
w=$("$CLIENT" --port "$port" --spec "$spec" --connections "$CONNECTIONS" --requests "$WARMUP" 2>"$tmp/client.err" | grep '^RESULT ')
[ "$(field "$w" unexpected)" -eq 0 ] && [ "$(field "$w" errors)" -eq 0 ] || fail "warm-up: ${w#RESULT }"
start=$(rss_kb)
t0=$(date +%s)
(
  while kill -0 "$pid" 2>/dev/null; do
    echo "$(( $(date +%s) - t0 )) $(rss_kb)" >>"$tmp/rss"
    sleep "$SAMPLE"
  done
) &
sampler=$!
r=$("$CLIENT" --port "$port" --spec "$spec" --connections "$CONNECTIONS" --requests "$REQUESTS" 2>>"$tmp/client.err" |
  grep '^RESULT ')
end=$(rss_kb)
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
echo "$(( $(date +%s) - t0 )) $end" >>"$tmp/rss"
peak=$(awk -v p="$start" '$2 > p {p = $2} END {print p}' "$tmp/rss")
n=$(wc -l <"$tmp/rss")
echo "  ${r#RESULT }"
echo "  RSS samples every ${SAMPLE} s ($n): $(awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $2 / 1024}' "$tmp/rss") MB"
growth=$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", (e - s) * 100 / s}')
echo "  server RSS: start (after warm-up) $(mb "$start") MB, peak $(mb "$peak") MB, end $(mb "$end") MB: growth ${growth} %"
[ "$(field "$r" unexpected)" -eq 0 ] || fail "$(field "$r" unexpected) answers with an unexpected status"
[ "$(field "$r" errors)" -eq 0 ] || fail "$(field "$r" errors) socket errors"
[ "$(field "$r" requests)" -eq "$REQUESTS" ] || fail "$(field "$r" requests) of $REQUESTS requests"
awk -v g="$growth" -v m="$GROWTH" 'BEGIN{exit !(g <= m)}' || fail "RSS grew ${growth} % (> ${GROWTH} %)"
h=$(http_status /healthz); rd=$(http_status /readyz)
echo "  afterwards: /healthz $h, /readyz $rd"
[ "$h" = 200 ] && [ "$rd" = 200 ] || fail "not healthy afterwards"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
trap - EXIT
[ $rc -eq 0 ] || fail "server exit code on SIGTERM: $rc"
[ -s "$tmp/client.err" ] && sed 's/^/  client: /' "$tmp/client.err" | head -n 10
grep -E '"level":"error"| error ' "$log" | head -n 5 | sed 's/^/  server: /' || true
rm -rf "$tmp"
[ $status -eq 0 ] && echo "stress-soak: ok" || echo "stress-soak: FAILED"
exit $status
