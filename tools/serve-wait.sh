# serve-wait.sh: sourced by the bench and stress scripts after they start
# `camserve serve --port 0 ... 2>"$log" &` (pid in $pid).  Defines
#   http_status PATH   the status code of a GET over bash's /dev/tcp (no curl needed)
#   serve_wait NAME    sets $port from the server's "listening on" line, then waits for /readyz 200;
#                      on failure prints the server's log and exits 1 (NAME prefixes the message)
# shellcheck shell=bash disable=SC2154  # $log and $pid come from the sourcing script

http_status() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 0
  printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3
  head -n1 <&3 | awk '{print $2}'
  exec 3<&- 3>&-
}

serve_wait() {
  port=""
  for _ in $(seq 300); do
    port=$(sed -nE 's/.*listening on http:\/\/[^ ]*:([0-9]+).*/\1/p' "$log" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$1: the server did not start" >&2; cat "$log" >&2; exit 1; }
  for _ in $(seq 300); do [ "$(http_status /readyz)" = 200 ] && return 0; sleep 0.1; done
  echo "$1: the server did not become ready" >&2
  cat "$log" >&2
  exit 1
}
