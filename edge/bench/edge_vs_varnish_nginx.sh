#!/usr/bin/env bash
# Side-by-side benchmark: dashcdn edge vs Varnish vs nginx proxy_cache, on this machine.
#
# Same objects (20 segments of 100 KB – 2 MB), same upstream (our origin behind a small
# proxy that delays the first byte by DELAY_MS and counts requests: `burst slow-origin`),
# same load tool (wrk from Debian). Run by hand, not in CI:
#
#   edge/bench/edge_vs_varnish_nginx.sh            # DURATION=10 CONNS=64 DELAY_MS=200 BURST=100
#
# Prints, per server: hit req/s and p50/p99 latency (wrk --latency over the warm object
# set), then the cold burst: BURST concurrent requests for one uncached object (150 KB and
# 1.5 MB) — how many requests reached the upstream and the waiters' p50/p99 versus one
# direct origin fetch, next to the same burst repeated warm (the cost of delivering
# BURST copies on this machine, which no amount of coalescing removes).
# Installs varnish, nginx-light and wrk with apt-get if missing. Everything runs on
# 127.0.0.1 ports BASE_PORT..BASE_PORT+4 and is stopped on exit.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
DELAY_MS="${DELAY_MS:-200}"
BURST="${BURST:-100}"
BASE_PORT="${BASE_PORT:-18180}"
ORIGIN_PORT=$BASE_PORT
SLOW_PORT=$((BASE_PORT + 1))
EDGE_PORT=$((BASE_PORT + 2))
VARNISH_PORT=$((BASE_PORT + 3))
NGINX_PORT=$((BASE_PORT + 4))
W="$(mktemp -d /tmp/edge-bench.XXXXXX)"
SHM="$(mktemp -d /dev/shm/edge-bench-nginx.XXXXXX 2>/dev/null || mktemp -d)"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
  [ -f "$W/varnish.pid" ] && kill "$(cat "$W/varnish.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$W" "$SHM"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! need varnishd || ! need nginx || ! need wrk; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y varnish nginx-light wrk
fi
VARNISHD="$(command -v varnishd || echo /usr/sbin/varnishd)"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

echo "== building (release)"
(cd "$REPO" && cargo build --release -q -p dashcdn && cargo build --release -q -p edge --example burst)
BIN="$REPO/target/release/dashcdn"
BURSTBIN="$REPO/target/release/examples/burst"

echo "== content: 20 segments of 100 KB .. 2 MB, plus burst objects"
mkdir -p "$W/content/bench/v" "$W/content/bench/burst"
PATHS=()
for i in $(seq 1 20); do
  size=$((100000 + (i - 1) * 100000))
  head -c "$size" /dev/urandom > "$W/content/bench/v/$i.m4s"
  PATHS+=("/bench/v/$i.m4s")
done
for name in edge varnish nginx base; do
  head -c 1500000 /dev/urandom > "$W/content/bench/burst/$name.m4s"
  head -c 150000 /dev/urandom > "$W/content/bench/burst/small-$name.m4s"
done
{
  echo "local paths = {"
  for p in "${PATHS[@]}"; do echo "  \"$p\","; done
  echo "}"
  echo "local i = 0"
  echo "request = function()"
  echo "  i = i + 1"
  echo "  return wrk.format(\"GET\", paths[(i % #paths) + 1])"
  echo "end"
} > "$W/paths.lua"

# start CMD... in the background, wait for a TCP port
start() { # name port cmd...
  local name=$1 port=$2; shift 2
  "$@" > "$W/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start:"; cat "$W/$name.log"; exit 1
}

echo "== starting origin, slow-origin proxy (+${DELAY_MS} ms first byte), edge, varnish, nginx"
start origin $ORIGIN_PORT env RUST_LOG=warn "$BIN" origin --content "$W/content" --listen 127.0.0.1:$ORIGIN_PORT
start slow $SLOW_PORT "$BURSTBIN" slow-origin --listen 127.0.0.1:$SLOW_PORT \
  --upstream http://127.0.0.1:$ORIGIN_PORT --delay-ms "$DELAY_MS"
UP="http://127.0.0.1:$SLOW_PORT"
start edge $EDGE_PORT env RUST_LOG=warn "$BIN" edge --upstream "$UP" --listen 127.0.0.1:$EDGE_PORT \
  --id bench-edge --mem 1GiB
"$VARNISHD" -n "$W/varnish" -a 127.0.0.1:$VARNISH_PORT -b 127.0.0.1:$SLOW_PORT -s malloc,1G \
  -P "$W/varnish.pid" > "$W/varnish.log" 2>&1
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$VARNISH_PORT") 2>/dev/null && break; sleep 0.1; done
cat > "$W/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $W/nginx-body;
  proxy_temp_path $SHM/tmp;
  proxy_cache_path $SHM/cache levels=1:2 keys_zone=edge:64m max_size=1g inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:$SLOW_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 30s;
      proxy_cache_valid 200 1h;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
EOF
"$NGINX" -c "$W/nginx.conf" -p "$W" > "$W/nginx.log" 2>&1
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null && break; sleep 0.1; done

declare -A PORT=([edge]=$EDGE_PORT [varnish]=$VARNISH_PORT [nginx]=$NGINX_PORT)
ORDER=(edge varnish nginx)

echo "== warming each cache with the ${#PATHS[@]} objects"
for s in "${ORDER[@]}"; do
  for p in "${PATHS[@]}"; do
    curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}$p"
    curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}$p"
  done
done
edge_xc="$(curl -s -D - -o /dev/null "http://127.0.0.1:$EDGE_PORT${PATHS[0]}" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')"
echo "edge X-Cache after warm-up: $edge_xc"

declare -A RPS P50 P99 BUP BP50 BP99
for s in "${ORDER[@]}"; do
  echo "== wrk: $s (hits, ${DURATION}s, $CONNS connections, $THREADS threads)"
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$W/paths.lua" "http://127.0.0.1:${PORT[$s]}")"
  echo "$out" | sed -n '/Latency Distribution/,/requests in/p'
  RPS[$s]="$(echo "$out" | awk '/Requests\/sec/{print $2}')"
  P50[$s]="$(echo "$out" | awk '$1=="50%"{print $2}')"
  P99[$s]="$(echo "$out" | awk '$1=="99%"{print $2}')"
  errs="$(echo "$out" | grep -E 'Non-2xx|Socket errors' || true)"
  [ -n "$errs" ] && echo "  !! $errs"
  sleep 1
done

echo "== one origin fetch (direct, through the ${DELAY_MS} ms proxy), 3 runs"
base=()
for _ in 1 2 3; do
  line="$("$BURSTBIN" run --url "$UP/bench/burst/base.m4s" --n 1)"
  base+=("$(echo "$line" | sed -E 's/.*p50_ms=([0-9.]+).*/\1/')")
done
BASE="$(printf '%s\n' "${base[@]}" | sort -n | sed -n 2p)"
echo "one origin fetch: ${base[*]} ms (median $BASE ms)"

burst() { # server object -> sets LAST_UP LAST_P50 LAST_P99
  local line
  line="$("$BURSTBIN" run --url "http://127.0.0.1:${PORT[$1]}/bench/burst/$2.m4s" --n "$BURST" --counter "$UP/__count")"
  echo "  $line" >&2
  LAST_UP="$(echo "$line" | sed -E 's/.*upstream_requests=([0-9]+).*/\1/')"
  LAST_P50="$(echo "$line" | sed -E 's/.*p50_ms=([0-9.]+).*/\1/')"
  LAST_P99="$(echo "$line" | sed -E 's/.*p99_ms=([0-9.]+).*/\1/')"
}
declare -A WP50 SUP SP50 SP99 SWP50
for s in "${ORDER[@]}"; do
  echo "== cold burst: $s ($BURST concurrent requests for one uncached object; then the same burst warm)"
  burst "$s" "$s";         BUP[$s]=$LAST_UP; BP50[$s]=$LAST_P50; BP99[$s]=$LAST_P99
  burst "$s" "$s";         WP50[$s]=$LAST_P50
  burst "$s" "small-$s";   SUP[$s]=$LAST_UP; SP50[$s]=$LAST_P50; SP99[$s]=$LAST_P99
  burst "$s" "small-$s";   SWP50[$s]=$LAST_P50
done

echo
echo "== results ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s over 20 objects of 100 KB-2 MB; origin first byte +${DELAY_MS} ms)"
echo "one direct origin fetch (median of 3): $BASE ms"
echo
echo "hits:"
printf '| %-8s | %10s | %9s | %9s |\n' server "req/s" "p50" "p99"
printf '|%s|%s|%s|%s|\n' ---------- ------------ ----------- -----------
for s in "${ORDER[@]}"; do
  printf '| %-8s | %10s | %9s | %9s |\n' "$s" "${RPS[$s]}" "${P50[$s]}" "${P99[$s]}"
done
echo
echo "cold burst ($BURST concurrent clients, one uncached object; 'warm' = the same burst again, all hits = delivery floor):"
printf '| %-8s | %-7s | %8s | %8s | %8s | %13s | %11s |\n' server object upstream "p50 ms" "p99 ms" "warm p50 ms" "p50/1 fetch"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------- --------- ---------- ---------- ---------- --------------- -------------
for s in "${ORDER[@]}"; do
  r1="$(awk -v a="${SP50[$s]}" -v b="$BASE" 'BEGIN{printf "%.2f", a/b}')"
  r2="$(awk -v a="${BP50[$s]}" -v b="$BASE" 'BEGIN{printf "%.2f", a/b}')"
  printf '| %-8s | %-7s | %8s | %8s | %8s | %13s | %11s |\n' "$s" "150 KB" "${SUP[$s]}" "${SP50[$s]}" "${SP99[$s]}" "${SWP50[$s]}" "$r1"
  printf '| %-8s | %-7s | %8s | %8s | %8s | %13s | %11s |\n' "$s" "1.5 MB" "${BUP[$s]}" "${BP50[$s]}" "${BP99[$s]}" "${WP50[$s]}" "$r2"
done
