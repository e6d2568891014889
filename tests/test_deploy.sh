#!/usr/bin/env bash
# tests/test_deploy.sh: docker/ and tools/models, tested without Docker.
#
# - The deployment files agree with the binary: the Dockerfile's runtime
#   packages provide every library build/camserve links, every CAMSERVE_*
#   setting exists, grace periods cover the drain, the body limits match.
# - tools/models: config generation on a local fixture (loaded by camserve
#   info), a clear failure when the mirror cannot be reached, and a checksum
#   mismatch that keeps nothing.
# - docker/nginx.conf with Debian's nginx through docker/proxy-local in front
#   of two live `camserve serve` on loopback: nginx -t, CAM through the proxy,
#   X-Request-Id passed or created, 30 MB -> 413 from nginx, gzip, static
#   caching, both replicas used (their /metrics), the rate limit, one replica
#   killed -> requests still succeed, none left -> 502 in JSON, SIGTERM.
#
# Prints "ok/FAIL/skip - name" lines and "N passed, N failed, N skipped" like
# the C suites (tests/check.h).  Runs in ~10 s; every process it starts is
# stopped on every exit path.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${CAMSERVE_BIN:-$root/build/camserve}
models=$root/../shared/models
cat_png=$root/../shared/images/cat.png
passed=0; failed=0; skipped=0
msg=""

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_deploy.XXXXXX")
pids=()       # camserve servers (killed) and proxy-local (SIGTERM: it stops its nginx)
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local p
  [ -n "${proxypid:-}" ] && kill -TERM "$proxypid" 2>/dev/null
  for p in "${pids[@]}"; do [ "$p" = "${proxypid:-}" ] || kill -KILL "$p" 2>/dev/null; done
  wait
  # an nginx whose proxy-local went away: its master's pid file is in our tmp
  for p in "$tmp"/camserve-proxy.*/nginx.pid; do
    [ -f "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# t NAME FUNCTION: runs FUNCTION in a subshell, where `no REASON` fails it and
# `skip REASON` skips it on the spot.  tp NAME FUNCTION runs it in this shell
# (for what must keep state: the servers it starts, the exit status of a
# child); such a function returns 0, 1 or 2 itself with the reason in $msg.
report() {   # name rc
  case $2 in
    0) passed=$((passed + 1)); echo "ok - $1" ;;
    2) skipped=$((skipped + 1)); echo "skip - $1: $msg" ;;
    *) failed=$((failed + 1)); echo "FAIL - $1: ${msg:-exit $2}" ;;
  esac
}
t() {
  local rc=0
  : > "$tmp/msg"
  ( "$2" ) || rc=$?
  msg=$(cat "$tmp/msg")
  report "$1" "$rc"
}
tp() {
  local rc=0
  msg=""
  "$2" || rc=$?
  report "$1" "$rc"
}
no() { printf '%s' "$*" > "$tmp/msg"; exit 1; }
skip() { printf '%s' "$*" > "$tmp/msg"; exit 2; }

# req [curl args...]: status code on stdout; headers in $tmp/hdr, body in $tmp/body
req() { curl -sS --max-time 20 -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@" 2> "$tmp/curl.err"; }
# header NAME: its value in the last response (of $tmp/hdr)
header() { grep -i "^$1:" "$tmp/hdr" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# the sum of camserve_requests_total{route=ROUTE} on a backend port (all codes when ROUTE is empty)
requests_total() {
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v r="$2" '/^camserve_requests_total\{/ { if (r == "" || index($0, "route=\"" r "\"")) s += $NF } END { print s + 0 }'
}

have_nginx=0; command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] && have_nginx=1
have_curl=0; command -v curl > /dev/null && have_curl=1
have_models=0; [ -d "$models/mobilenetv2-imagenet" ] && [ -f "$cat_png" ] && have_models=1

# ---- the deployment files against the binary (no servers) ------------------------------

test_shellcheck() {
  command -v shellcheck > /dev/null || skip "shellcheck not installed (tools/install-deps installs it)"
  shellcheck "$root/docker/proxy-local" "$root/tools/models" "$root/tests/test_deploy.sh" > "$tmp/sc" 2>&1 ||
    no "$(head -c 1500 "$tmp/sc")"
}

# the runtime stage's apt-get install line(s) of docker/Dockerfile
runtime_packages() {
  awk '/^FROM .* AS runtime/ { on = 1 } on && /^FROM / && !/AS runtime/ { on = 0 } on' "$root/docker/Dockerfile" |
    sed -n '/apt-get install/,/rm -rf/p' | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(lib|zlib)/) print $i }' | sort -u
}

test_dockerfile_runtime_libraries() {
  { command -v readelf && command -v dpkg; } > /dev/null || skip "needs readelf and dpkg"
  local pkgs lib pkg missing=""
  pkgs=$(runtime_packages)
  [ -n "$pkgs" ] || no "found no runtime packages in docker/Dockerfile"
  for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    case "$lib" in libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*) continue ;; esac   # libc6, in every image
    case "$lib" in libasan.so.*|libubsan.so.*|liblsan.so.*|libtsan.so.*) continue ;; esac   # `make asan` builds, not the image's
    pkg=$(dpkg -S "$lib" 2>/dev/null | grep -v -- '-dev' | head -n 1 | cut -d: -f1)
    [ -n "$pkg" ] || { missing+=" $lib(no package)"; continue; }
    grep -qx "$pkg" <<< "$pkgs" || missing+=" $pkg($lib)"
  done
  # dlopen()ed, so not in NEEDED: the pthread OpenBLAS of core/blas.c
  grep -q 'openblas-pthread/libopenblas.so.0' "$root/core/blas.c" || missing+=" (core/blas.c no longer loads openblas-pthread?)"
  grep -qx libopenblas0-pthread <<< "$pkgs" || missing+=" libopenblas0-pthread(dlopen)"
  if dpkg -s libopenblas0-pthread > /dev/null 2>&1; then
    dpkg -L libopenblas0-pthread | grep -q 'openblas-pthread/libopenblas.so.0$' ||
      missing+=" (libopenblas0-pthread has no openblas-pthread/libopenblas.so.0)"
  fi
  [ -z "$missing" ] || no "runtime stage lacks:$missing (it installs: $(echo "$pkgs" | tr '\n' ' '))"
}

test_settings_exist() {
  local help name bad=""
  help=$("$bin" serve --help)
  # compose's own variable and tools/models' mirror are not camserve flags
  while read -r name; do
    case "$name" in CAMSERVE_MODELS_DIR) continue ;; esac
    grep -q "\[$name\]" <<< "$help" || bad+=" $name"
  done < <(grep -ohE 'CAMSERVE_[A-Z_]+' "$root"/docker/Dockerfile "$root"/docker/compose.yaml "$root"/docker/k8s/*.yaml | sort -u)
  [ -z "$bad" ] || no "not a camserve serve setting:$bad"
}

test_grace_covers_drain() {
  local drain grace sleep_s compose_drain compose_grace
  drain=$(sed -n 's/^ *CAMSERVE_DRAIN_SECONDS: *"\([0-9]*\)".*/\1/p' "$root/docker/k8s/configmap.yaml")
  grace=$(sed -n 's/^ *terminationGracePeriodSeconds: *\([0-9]*\).*/\1/p' "$root/docker/k8s/deployment.yaml")
  sleep_s=$(grep -A3 'preStop:' "$root/docker/k8s/deployment.yaml" | sed -n 's/.*"sleep", *"\([0-9]*\)".*/\1/p')
  { [ -n "$drain" ] && [ -n "$grace" ] && [ -n "$sleep_s" ]; } || no "could not read drain/grace/preStop (drain=$drain grace=$grace sleep=$sleep_s)"
  [ "$grace" -ge $((sleep_s + drain + 1)) ] || no "terminationGracePeriodSeconds $grace < preStop $sleep_s + drain $drain"
  compose_drain=$(sed -n 's/^ *CAMSERVE_DRAIN_SECONDS: *"\([0-9]*\)".*/\1/p' "$root/docker/compose.yaml")
  compose_grace=$(sed -n '/^  camserve:/,/^  [a-z]/s/^ *stop_grace_period: *\([0-9]*\)s.*/\1/p' "$root/docker/compose.yaml")
  { [ -n "$compose_drain" ] && [ -n "$compose_grace" ]; } || no "could not read compose's drain/stop_grace_period"
  [ "$compose_grace" -gt "$compose_drain" ] || no "compose stop_grace_period ${compose_grace}s <= drain ${compose_drain}s"
  # the image's own default fits docker stop's 10 s
  grep -qE 'CAMSERVE_DRAIN_SECONDS=[0-9]$' "$root/docker/Dockerfile" || no "Dockerfile's CAMSERVE_DRAIN_SECONDS is not under 10 s"
}

test_body_limits_match() {
  local def nginx_mb f v
  def=$("$bin" serve --help | grep -A1 -- '--max-body-mb' | sed -n 's/.*default: \([0-9]*\).*/\1/p')
  nginx_mb=$(sed -n 's/^ *client_max_body_size *\([0-9]*\)m;.*/\1/p' "$root/docker/nginx.conf")
  { [ -n "$def" ] && [ "$def" = "$nginx_mb" ]; } || no "nginx client_max_body_size ${nginx_mb}m != camserve --max-body-mb default $def"
  for f in "$root/docker/compose.yaml" "$root/docker/k8s/configmap.yaml"; do
    v=$(sed -n 's/^ *CAMSERVE_MAX_BODY_MB: *"\([0-9]*\)".*/\1/p' "$f")
    [ -z "$v" ] || [ "$v" = "$nginx_mb" ] || no "$(basename "$f") CAMSERVE_MAX_BODY_MB $v != nginx ${nginx_mb}m"
  done
  return 0
}

# ---- tools/models ---------------------------------------------------------------------

test_models_generate_only() {
  [ -d "$models/tv-squeezenet1_1" ] || skip "no ../shared/models for the fixture"
  local repo=$tmp/repo n
  # the fixture: the zoo names on the shared (torchvision) model files
  mkdir -p "$repo/onnx-squeezenet1_1" "$repo/onnx-mobilenetv2" "$repo/onnx-resnet18v2"
  ln -s "$models/tv-squeezenet1_1/model.onnx" "$repo/onnx-squeezenet1_1/model.onnx"
  ln -s "$models/tv-mobilenet_v2/model.onnx" "$repo/onnx-mobilenetv2/model.onnx"
  ln -s "$models/tv-resnet18/model.onnx" "$repo/onnx-resnet18v2/model.onnx"
  "$root/tools/models" --generate-only --dest "$repo" > "$tmp/gen.out" 2>&1 || no "exit $?: $(cat "$tmp/gen.out")"
  for n in onnx-squeezenet1_1 onnx-mobilenetv2 onnx-resnet18v2; do
    [ -f "$repo/$n/config.json" ] || no "no $n/config.json"
    grep -q "\"name\": \"$n\"" "$repo/$n/config.json" || no "$n/config.json: wrong name"
    grep -q '"resize": "shorter-side-crop"' "$repo/$n/config.json" || no "$n/config.json: no shorter-side-crop"
    [ "$(wc -l < "$repo/$n/labels.txt")" -eq 1000 ] || no "$n/labels.txt is not 1000 lines"
    # camserve's own loader accepts the generated config
    "$bin" info --model "$repo/$n" > "$tmp/info.out" 2>&1 || no "camserve info --model $n: $(head -c 500 "$tmp/info.out")"
  done
  grep -q 'not the pinned file' "$tmp/gen.out" || no "the sha256 of a foreign model.onnx was not noted"
  # a folder without model.onnx is skipped, and nothing at all is an error
  mkdir -p "$tmp/empty"
  "$root/tools/models" --generate-only --dest "$tmp/empty" > /dev/null 2>&1 && no "no models: exit 0"
  return 0
}

test_models_offline_message() {
  [ "$have_curl" -eq 1 ] || skip "no curl"
  local rc=0
  CAMSERVE_MODELS_MIRROR=http://127.0.0.1:1 "$root/tools/models" --dest "$tmp/offline" > "$tmp/off.out" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || no "exit 0 with an unreachable mirror"
  grep -q 'cannot reach http://127.0.0.1:1' "$tmp/off.out" || no "unclear message: $(cat "$tmp/off.out")"
  ! ls "$tmp"/offline/*/model.onnx* > /dev/null 2>&1 || no "left files behind"
}

# ---- live: two camserve replicas behind nginx -----------------------------------------

b1=""; b2=""; b1pid=""; b2pid=""; pport=""; proxypid=""

start_backend() {   # N: starts backend N, sets bN and bNpid
  # in a wrapper that waits for it, so that killing it (SIGKILL on purpose)
  # makes no "Killed" job notice in this shell's output
  ( "$bin" serve --models "$models" --host 127.0.0.1 --port 0 --workers 1 --threads 1 \
      --static "$tmp/static" > "$tmp/b$1.log" 2>&1 &
    echo $! > "$tmp/b$1.pid"
    wait ) 2> /dev/null &
  local pid="" port="" i
  for i in $(seq 50); do [ -s "$tmp/b$1.pid" ] && break; sleep 0.02; done
  pid=$(cat "$tmp/b$1.pid" 2>/dev/null)
  [ -n "$pid" ] || return 1
  pids+=("$pid")
  for i in $(seq 200); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/b$1.log" | grep -o '[0-9]*$')
    [ -n "$port" ] && curl -sf --max-time 2 "http://127.0.0.1:$port/readyz" > /dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    port=""
    sleep 0.1
  done
  [ -n "$port" ] || return 1
  eval "b$1=$port; b$1pid=$pid"
}

port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_proxy() {
  local i p
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    port_free "$p" || continue
    TMPDIR=$tmp "$root/docker/proxy-local" "$p" "127.0.0.1:$b1" "127.0.0.1:$b2" > "$tmp/proxy.out" 2>&1 &
    proxypid=$!
    pids+=("$proxypid")
    for i in $(seq 100); do
      curl -sf --max-time 2 "http://127.0.0.1:$p/nginx-healthz" > /dev/null && { pport=$p; return 0; }
      kill -0 "$proxypid" 2>/dev/null || break
      sleep 0.05
    done
    kill -TERM "$proxypid" 2>/dev/null; wait "$proxypid" 2>/dev/null
  done
  return 1
}

live_ready=0
setup_live() {   # in this shell (tp): the servers outlive it
  [ "$have_nginx" -eq 1 ] || { msg="nginx not installed (tools/install-deps installs it)"; return 2; }
  [ "$have_curl" -eq 1 ] || { msg="curl not installed"; return 2; }
  [ "$have_models" -eq 1 ] || { msg="no ../shared/models or ../shared/images"; return 2; }
  [ -x "$bin" ] || { msg="no camserve binary at $bin"; return 1; }
  # the replicas' static folder: the page, plus a fake model zoo file for the mirror test
  mkdir -p "$tmp/static"
  cp "$root"/static/index.html "$tmp/static/" 2>/dev/null || echo '<!doctype html><title>camserve</title>' > "$tmp/static/index.html"
  start_backend 1 || { msg="backend 1 did not become ready: $(tail -n 5 "$tmp/b1.log")"; return 1; }
  start_backend 2 || { msg="backend 2 did not become ready: $(tail -n 5 "$tmp/b2.log")"; return 1; }
  start_proxy || { msg="docker/proxy-local did not start: $(tail -n 20 "$tmp/proxy.out")"; return 1; }
  live_ready=1
}

live() { [ "$live_ready" -eq 1 ] || skip "no live proxy (see setup_live)"; }

test_nginx_t() {
  live || return
  "$root/docker/proxy-local" --check 18080 "127.0.0.1:$b1" "127.0.0.1:$b2" > "$tmp/t.out" 2>&1 ||
    no "nginx -t: $(cat "$tmp/t.out")"
  # the generated configuration is the shipped one with only the documented replacements
  "$root/docker/proxy-local" --print 18080 "127.0.0.1:$b1" "127.0.0.1:$b2" > "$tmp/gen.conf" 2>&1 || no "--print failed"
  { grep -q "server 127.0.0.1:$b1 max_fails" "$tmp/gen.conf" && grep -q "server 127.0.0.1:$b2 max_fails" "$tmp/gen.conf"; } ||
    no "upstream servers not replaced"
  ! grep -q 'server camserve:8080' "$tmp/gen.conf" || no "the compose upstream is still there"
  ! grep -qE '^ *(pid|error_log|access_log) +/(run|dev|var)/' "$tmp/gen.conf" || no "a path outside the private prefix"
}

test_readyz_through_proxy() {
  live || return
  local code
  code=$(req "http://127.0.0.1:$pport/readyz")
  [ "$code" = 200 ] || no "status $code"
  grep -q '"ready"' "$tmp/body" || no "body $(cat "$tmp/body")"
}

test_cam_through_proxy() {
  live || return
  local code
  code=$(req --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  [ "$code" = 200 ] || no "status $code: $(head -c 300 "$tmp/body") $(cat "$tmp/curl.err")"
  { grep -q '"predictions"' "$tmp/body" && grep -q '"overlay_png"' "$tmp/body"; } || no "not a CAM answer: $(head -c 300 "$tmp/body")"
  grep -q 'Egyptian cat' "$tmp/body" || no "cat.png not explained as a cat: $(head -c 300 "$tmp/body")"
  code=$(req --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/models/tv-squeezenet1_1/cam?top_k=2")
  [ "$code" = 200 ] || no "named model: status $code"
}

test_request_id_passes() {
  live || return
  local code id=deploy-test-4711
  code=$(req -H "X-Request-Id: $id" --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  [ "$code" = 200 ] || no "status $code"
  [ "$(header X-Request-Id)" = "$id" ] || no "X-Request-Id '$(header X-Request-Id)', sent $id"
  # camserve saw it (its access log), and so did nginx
  cat "$tmp/b1.log" "$tmp/b2.log" | grep -q "$id" || no "no replica logged $id"
  grep -q "rid=$id " "$tmp"/camserve-proxy.*/access.log || no "nginx did not log $id"
}

test_request_id_created() {
  live || return
  local code id
  code=$(req --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  [ "$code" = 200 ] || no "status $code"
  id=$(header X-Request-Id)
  # nginx's $request_id is 32 hex digits (camserve's own are 16): nginx created it and camserve echoed it
  [[ $id =~ ^[0-9a-f]{32}$ ]] || no "X-Request-Id '$id' is not nginx's \$request_id"
  cat "$tmp/b1.log" "$tmp/b2.log" | grep -q "$id" || no "no replica logged $id"
  grep -q "rid=$id " "$tmp"/camserve-proxy.*/access.log || no "nginx did not log $id"
  # one camserve would refuse (a space, too long) is replaced, not passed on
  code=$(req -H "X-Request-Id: bad id" "http://127.0.0.1:$pport/v1/models")
  [[ $(header X-Request-Id) =~ ^[0-9a-f]{32}$ ]] || no "a bad client id came back as '$(header X-Request-Id)'"
}

test_upload_30mb_413_from_nginx() {
  live || return
  local code before after
  head -c $((30 * 1024 * 1024)) /dev/zero > "$tmp/30mb.bin"
  before=$(( $(requests_total "$b1" "") + $(requests_total "$b2" "") ))
  code=$(req --data-binary "@$tmp/30mb.bin" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  rm -f "$tmp/30mb.bin"
  [ "$code" = 413 ] || no "status $code"
  grep -q '"code":"PAYLOAD_TOO_LARGE"' "$tmp/body" || no "body $(head -c 300 "$tmp/body")"
  grep -q "proxy" "$tmp/body" || no "the 413 is not nginx's: $(head -c 300 "$tmp/body")"
  [ -n "$(header X-Request-Id)" ] || no "no X-Request-Id on nginx's 413"
  # the metrics reads themselves count: 2 per replica read
  after=$(( $(requests_total "$b1" "") + $(requests_total "$b2" "") ))
  [ "$after" -eq $((before + 2)) ] || no "the upload reached a replica ($before -> $after requests)"
}

test_gzip_json() {
  live || return
  local code
  code=$(req -H 'Accept-Encoding: gzip' "http://127.0.0.1:$pport/openapi.json")
  [ "$code" = 200 ] || no "status $code"
  [ "$(header Content-Encoding)" = gzip ] || no "openapi.json not gzipped (Content-Encoding '$(header Content-Encoding)')"
  gzip -dc < "$tmp/body" | grep -q '"openapi"' || no "does not gunzip to the OpenAPI document"
  code=$(req -H 'Accept-Encoding: gzip' --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  { [ "$code" = 200 ] && [ "$(header Content-Encoding)" = gzip ]; } || no "CAM answer: status $code, Content-Encoding '$(header Content-Encoding)'"
}

test_static_cache_headers() {
  live || return
  local code
  code=$(req "http://127.0.0.1:$pport/static/index.html")
  [ "$code" = 200 ] || no "status $code"
  [ "$(header Cache-Control)" = "public, max-age=300" ] || no "/static/: Cache-Control '$(header Cache-Control)'"
  [ "$(grep -ci '^cache-control:' "$tmp/hdr")" -eq 1 ] || no "/static/: several Cache-Control headers"
  code=$(req "http://127.0.0.1:$pport/")
  [ "$code" = 200 ] || no "/: status $code"
  [ "$(header Cache-Control)" = "no-cache" ] || no "/: Cache-Control '$(header Cache-Control)' (camserve's no-cache expected)"
}

test_both_backends_receive() {
  live || return
  local a1 a2 z1 z2 i code
  a1=$(requests_total "$b1" /v1/cam); a2=$(requests_total "$b2" /v1/cam)
  for i in 1 2 3 4 5 6; do
    code=$(req --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
    [ "$code" = 200 ] || no "request $i: status $code"
  done
  z1=$(requests_total "$b1" /v1/cam); z2=$(requests_total "$b2" /v1/cam)
  [ $((z1 - a1 + z2 - a2)) -eq 6 ] || no "6 requests, the replicas counted $((z1 - a1)) + $((z2 - a2))"
  { [ $((z1 - a1)) -ge 1 ] && [ $((z2 - a2)) -ge 1 ]; } || no "one replica got them all: $((z1 - a1)) and $((z2 - a2))"
}

test_metrics_private_only() {
  live || return
  local code
  code=$(req "http://127.0.0.1:$pport/metrics")
  { [ "$code" = 200 ] && grep -q '^camserve_requests_total' "$tmp/body"; } || no "loopback: status $code"
}

test_models_checksum_mismatch() {
  live || return
  # a mirror (replica 2's static folder) serving a file that is not the pinned one
  local path rc=0
  path=$(grep -o 'onnx/models/raw/[^|]*squeezenet1.1-7.onnx' "$root/tools/models" | head -n 1)
  [ -n "$path" ] || no "no squeezenet row in tools/models"
  mkdir -p "$tmp/static/$(dirname "$path")"
  echo "not a model" > "$tmp/static/$path"
  CAMSERVE_MODELS_MIRROR="http://127.0.0.1:$b2/static" "$root/tools/models" --dest "$tmp/mirrored" onnx-squeezenet1_1 \
    > "$tmp/mm.out" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || no "exit 0 for a wrong file"
  grep -q 'sha256 mismatch' "$tmp/mm.out" || no "no checksum message: $(cat "$tmp/mm.out")"
  ! ls "$tmp"/mirrored/onnx-squeezenet1_1/model.onnx* > /dev/null 2>&1 || no "kept the wrong file"
}

test_healthcheck_subcommand() {
  live || return
  "$bin" healthcheck --port "$b1" > "$tmp/hc" 2>&1 || no "live replica: $(cat "$tmp/hc")"
  CAMSERVE_PORT=$b2 "$bin" healthcheck --path /readyz > "$tmp/hc" 2>&1 || no "CAMSERVE_PORT + /readyz: $(cat "$tmp/hc")"
  "$bin" healthcheck --port "$b1" --path /nope > "$tmp/hc" 2>&1 && no "404 counted as healthy"
  local closed
  closed=$((20000 + RANDOM % 40000))
  port_free "$closed" || return 0
  "$bin" healthcheck --port "$closed" --timeout 1 > "$tmp/hc" 2>&1 && no "a closed port counted as healthy"
  return 0
}

test_rate_limit() {
  live || return
  # 40 at once from their own loopback address (the limit is per client address):
  # the burst of 20 passes, the rest is 429 in JSON with Retry-After
  local i codes n429 code
  : > "$tmp/rl.cfg"
  for i in $(seq 40); do
    printf 'url = "http://127.0.0.1:%s/v1/cam"\noutput = "%s/rl.%d"\n' "$pport" "$tmp" "$i" >> "$tmp/rl.cfg"
  done
  codes=$(curl -s --max-time 20 --interface 127.0.0.9 -Z --parallel-max 40 -K "$tmp/rl.cfg" \
            --data-binary 'x' -H 'Content-Type: image/png' -w '%{http_code} %header{retry-after}\n' 2>&1)
  n429=$(grep -c '^429 1$' <<< "$codes")
  [ "$n429" -ge 10 ] || no "$n429 of 40 limited with Retry-After: $(sort <<< "$codes" | uniq -c | tr '\n' ' ')"
  [ "$(grep -c '^415 ' <<< "$codes")" -ge 15 ] || no "the burst did not pass: $(sort <<< "$codes" | uniq -c | tr '\n' ' ')"
  [ "$(grep -l '"code":"RATE_LIMITED"' "$tmp"/rl.* | wc -l)" -eq "$n429" ] || no "not every 429 has the JSON body"
  # another client is not affected, nor are GETs
  code=$(req --interface 127.0.0.10 --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  [ "$code" = 200 ] || no "another address: status $code"
  code=$(req --interface 127.0.0.9 "http://127.0.0.1:$pport/v1/models")
  [ "$code" = 200 ] || no "GET from the limited address: status $code"
}

test_kill_one_backend() {
  live || return
  local i code ok=0
  kill -KILL "$b1pid"; wait "$b1pid" 2>/dev/null
  for i in $(seq 10); do
    code=$(req --interface 127.0.0.3 --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
    [ "$code" = 200 ] && ok=$((ok + 1))
  done
  [ "$ok" -eq 10 ] || no "$ok of 10 requests succeeded with replica 1 gone"
  code=$(req "http://127.0.0.1:$pport/readyz")
  [ "$code" = 200 ] || no "/readyz with one replica: status $code"
  for i in 1 2 3 4; do
    code=$(req "http://127.0.0.1:$pport/v1/models")
    [ "$code" = 200 ] || no "GET $i with replica 1 gone: status $code"
  done
}

test_no_backend_502_json() {
  live || return
  local code
  kill -KILL "$b2pid"; wait "$b2pid" 2>/dev/null
  code=$(req --interface 127.0.0.4 --data-binary "@$cat_png" -H 'Content-Type: image/png' "http://127.0.0.1:$pport/v1/cam")
  [ "$code" = 502 ] || no "status $code"
  grep -q '"code":"BAD_GATEWAY"' "$tmp/body" || no "body $(cat "$tmp/body")"
  [[ $(header X-Request-Id) =~ ^[0-9a-f]{32}$ ]] || no "no X-Request-Id on nginx's 502"
}

test_proxy_sigterm() {   # in this shell (tp): proxy-local's exit status
  [ "$live_ready" -eq 1 ] || { msg="no live proxy (see setup_live)"; return 2; }
  local prefix i rc=0
  for prefix in "$tmp"/camserve-proxy.*; do break; done
  [ -d "$prefix" ] || { msg="no private prefix under TMPDIR"; return 1; }
  kill -TERM "$proxypid"
  for i in $(seq 100); do kill -0 "$proxypid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$proxypid" 2>/dev/null && { msg="still running 5 s after SIGTERM"; return 1; }
  wait "$proxypid" || rc=$?
  [ "$rc" -eq 0 ] || { msg="exit status $rc: $(tail -n 5 "$tmp/proxy.out")"; return 1; }
  [ ! -e "$prefix" ] || { msg="left $prefix behind"; return 1; }
  port_free "$pport" || { msg="port $pport still open"; return 1; }
}

t shellcheck test_shellcheck
t dockerfile_runtime_libraries test_dockerfile_runtime_libraries
t settings_exist test_settings_exist
t grace_covers_drain test_grace_covers_drain
t body_limits_match test_body_limits_match
t models_generate_only test_models_generate_only
t models_offline_message test_models_offline_message
tp setup_live setup_live
t nginx_t test_nginx_t
t readyz_through_proxy test_readyz_through_proxy
t cam_through_proxy test_cam_through_proxy
t request_id_passes test_request_id_passes
t request_id_created test_request_id_created
t upload_30mb_413_from_nginx test_upload_30mb_413_from_nginx
t gzip_json test_gzip_json
t static_cache_headers test_static_cache_headers
t both_backends_receive test_both_backends_receive
t metrics_private_only test_metrics_private_only
t models_checksum_mismatch test_models_checksum_mismatch
t healthcheck_subcommand test_healthcheck_subcommand
t rate_limit test_rate_limit
t kill_one_backend test_kill_one_backend
t no_backend_502_json test_no_backend_502_json
tp proxy_sigterm test_proxy_sigterm

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
