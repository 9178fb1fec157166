#!/usr/bin/env bash
# Hit ratio under a memory budget: dashcdn edge (S3-FIFO, LRU) vs Varnish vs nginx proxy_cache
# on one seeded Zipf workload, each cache holding BUDGET_PCT % of the working set's bytes.
#
#   edge/bench/zipf_budget.sh     # OBJECTS=2000 REQUESTS=60000 ALPHA=0.9 SEED=1 BUDGET_PCT=10 CONNS=16
#
# Content: OBJECTS objects of 20 KB - 400 KB (log-uniform, seeded), served by `dashcdn origin`
# (one-year max-age, so every cache keeps them) behind a counting proxy (`burst slow-origin
# --delay-ms 0`) that counts the requests and body bytes each cache fetches. One Zipf(ALPHA)
# sequence of REQUESTS requests, identical for every server, is replayed by `zipf_load run`
# over CONNS connections (each takes the next request of the shared sequence, so the order is
# nearly the same everywhere); every body is checked byte for byte. Each server starts empty.
#   hit ratio      = 1 - upstream requests / requests   (all requests, no warm-up)
#   byte hit ratio = 1 - upstream bytes / bytes delivered
# cross-checked against the server's own header (X-Cache for the edge and nginx, X-Varnish),
# next to the in-process simulation of the edge's policy code (cache::mem::MemTier) on the
# same sequence and budget (`zipf_load sim`), and the compulsory-miss floor.
# Budgets: edge --mem B (counts body + key + head + 320 B per object); Varnish -s malloc,B
# (objects and their headers in the malloc storage; Transient stays empty because the TTL is
# long; its LRU moves a hit object at most once per lru_interval, 2 s by default); nginx
# max_size=B on /dev/shm, enforced by its cache manager *asynchronously*: a pass that finds
# the cache under B sleeps up to 10 s (nothing expires before `inactive`), so the cache grows
# well past B between passes (then it is cut back to B): its directory's size is sampled every
# 0.2 s and the peak and mean are printed; nginx's hit ratio is at that larger effective size.
#
# Env: BIN (a release dashcdn; skips its build), ZIPF_LOAD and BURST_BIN (the example
# binaries; built when unset, in CARGO_TARGET_DIR or target/), SERVERS (subset and order of:
# edge-s3fifo edge-lru varnish nginx), VARNISH_PARAMS (extra varnishd arguments, e.g.
# "-p lru_interval=0"), BENCH_JSONL (append one JSON line per server and per simulated
# policy), BASE_PORT (ports BASE_PORT..BASE_PORT+6).
# Installs varnish, nginx-light and jq with apt-get if missing. Run by hand, not in CI.
# Everything listens on 127.0.0.1 and is stopped on exit; temporary files are removed.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
OBJECTS="${OBJECTS:-2000}"
REQUESTS="${REQUESTS:-60000}"
ALPHA="${ALPHA:-0.9}"
SEED="${SEED:-1}"
BUDGET_PCT="${BUDGET_PCT:-10}"
CONNS="${CONNS:-16}"
SERVERS="${SERVERS:-edge-s3fifo edge-lru varnish nginx}"
BASE_PORT="${BASE_PORT:-18280}"
ORIGIN_PORT=$BASE_PORT
COUNT_PORT=$((BASE_PORT + 1))
W="$(mktemp -d /tmp/zipf-bench.XXXXXX)"
SHM="$(mktemp -d /dev/shm/zipf-bench-nginx.XXXXXX 2>/dev/null || mktemp -d)"
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
if ! need varnishd || ! need nginx || ! need jq; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y varnish nginx-light jq
fi
VARNISHD="$(command -v varnishd || echo /usr/sbin/varnishd)"
VARNISHSTAT="$(command -v varnishstat || echo /usr/bin/varnishstat)"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
if [ -z "${BIN:-}" ]; then
  echo "== building dashcdn (release)"
  (cd "$REPO" && cargo build --release -q -p dashcdn)
  BIN="$TARGET/release/dashcdn"
fi
if [ -z "${ZIPF_LOAD:-}" ] || [ -z "${BURST_BIN:-}" ]; then
  echo "== building the zipf_load and burst examples (release)"
  (cd "$REPO" && cargo build --release -q -p edge --example zipf_load --example burst)
fi
ZIPF_LOAD="${ZIPF_LOAD:-$TARGET/release/examples/zipf_load}"
BURST_BIN="${BURST_BIN:-$TARGET/release/examples/burst}"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
WL=(--objects "$OBJECTS" --requests "$REQUESTS" --alpha "$ALPHA" --seed "$SEED")
WS="$("$ZIPF_LOAD" info "${WL[@]}" --field working_set_bytes)"
B=$((WS * BUDGET_PCT / 100))
KB=$((B / 1024))
CASE="zipf $ALPHA, $OBJECTS objects, budget $BUDGET_PCT%"
echo "== workload: $("$ZIPF_LOAD" info "${WL[@]}")"
echo "== budget: $BUDGET_PCT% of the working set ($WS bytes) = $B bytes"
echo "== content: $OBJECTS objects in $W/content"
"$ZIPF_LOAD" content "${WL[@]}" --dir "$W/content"

# start CMD... in the background, wait for a TCP port
wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
start() { # name port cmd...
  local name=$1 port=$2; shift 2
  "$@" > "$W/$name.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" || { echo "$name did not start:"; cat "$W/$name.log"; exit 1; }
}
# RSS in KiB of a process and its children
rss_tree() {
  local total=0 p
  for p in "$@" $(pgrep -P "$(IFS=,; echo "$*")" || true); do
    total=$((total + $(ps -o rss= -p "$p" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

echo "== starting origin and the counting proxy"
start origin $ORIGIN_PORT env RUST_LOG=warn "$BIN" origin --content "$W/content" --listen 127.0.0.1:$ORIGIN_PORT
start counter $COUNT_PORT "$BURST_BIN" slow-origin --listen 127.0.0.1:$COUNT_PORT \
  --upstream http://127.0.0.1:$ORIGIN_PORT --delay-ms 0
UP="http://127.0.0.1:$COUNT_PORT"

: > "$W/results.jsonl"
: > "$W/extras.txt"
port=$((BASE_PORT + 2))
for s in $SERVERS; do
  port=$((port + 1))
  echo "== $s: starting empty on 127.0.0.1:$port"
  extra='{}'
  case "$s" in
    edge-s3fifo|edge-lru)
      start "$s" $port env RUST_LOG=warn "$BIN" edge --upstream "$UP" --listen 127.0.0.1:$port \
        --id "zipf-$s" --mem "$B" --policy "${s#edge-}" --prefetch 0 --prefetch-hints false
      pid=${PIDS[-1]}
      ;;
    varnish)
      "$VARNISHD" -n "$W/varnish" -a 127.0.0.1:$port -b 127.0.0.1:$COUNT_PORT -s "malloc,${KB}k" \
        ${VARNISH_PARAMS:-} -P "$W/varnish.pid" > "$W/varnish.log" 2>&1
      wait_port $port || { echo "varnish did not start:"; cat "$W/varnish.log"; exit 1; }
      pid="$(cat "$W/varnish.pid")"
      ;;
    nginx)
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
  proxy_cache_path $SHM/cache levels=1:2 keys_zone=zipf:16m max_size=${KB}k inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:$COUNT_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache zipf;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 30s;
      proxy_cache_valid 200 1h;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
EOF
      "$NGINX" -c "$W/nginx.conf" -p "$W" > "$W/nginx.log" 2>&1
      wait_port $port || { echo "nginx did not start:"; cat "$W/nginx.log" "$W/nginx-error.log"; exit 1; }
      pid="$(cat "$W/nginx.pid")"
      # nginx evicts asynchronously: sample its cache directory's size (blocks, as max_size counts)
      ( while :; do du -s -B1 "$SHM/cache" 2>/dev/null | cut -f1 >> "$W/nginx-sizes"; sleep 0.2; done ) &
      SAMPLER=$!
      PIDS+=($SAMPLER)
      ;;
    *) echo "unknown server $s (SERVERS: edge-s3fifo edge-lru varnish nginx)"; exit 1 ;;
  esac

  echo "== $s: replaying $REQUESTS requests over $CONNS connections"
  "$ZIPF_LOAD" run "${WL[@]}" --base "http://127.0.0.1:$port" --counter "$UP" --server "$s" \
    --conns "$CONNS" --budget "$B" --case "$CASE" > "$W/$s.json"
  cat "$W/$s.json"
  rss="$(rss_tree "$pid")"

  case "$s" in
    edge-*)
      held="$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^dashcdn_edge_cache_bytes\{.*tier="memory"/{print $2}')"
      extra="$(jq -nc --argjson h "${held:-0}" --argjson r "$rss" '{cache_bytes_end:$h, rss_kib_end:$r}')"
      echo "$s: memory tier holds ${held:-?} bytes at the end (budget $B); RSS $rss KiB" | tee -a "$W/extras.txt"
      kill "$pid"
      ;;
    varnish)
      stat="$("$VARNISHSTAT" -n "$W/varnish" -1 2>/dev/null || true)"
      v() { echo "$stat" | awk -v k="$1" '$1==k{print $2}'; }
      extra="$(jq -nc --argjson h "$(v SMA.s0.g_bytes)" --argjson t "$(v SMA.Transient.g_bytes)" \
        --argjson n "$(v MAIN.n_lru_nuked)" --argjson r "$rss" \
        '{cache_bytes_end:$h, transient_bytes_end:$t, lru_nuked:$n, rss_kib_end:$r}')"
      echo "varnish: s0 holds $(v SMA.s0.g_bytes) bytes (budget $B), Transient $(v SMA.Transient.g_bytes) bytes," \
        "$(v MAIN.n_lru_nuked) objects nuked, cache_hit $(v MAIN.cache_hit) cache_miss $(v MAIN.cache_miss); RSS $rss KiB" \
        | tee -a "$W/extras.txt"
      kill "$pid"; rm -f "$W/varnish.pid"
      ;;
    nginx)
      kill "$SAMPLER" 2>/dev/null || true
      peak="$(awk 'BEGIN{m=0} $1>m{m=$1} END{print m}' "$W/nginx-sizes")"
      mean="$(awk '{t+=$1; n++} END{printf "%d", n ? t/n : 0}' "$W/nginx-sizes")"
      end="$(du -s -B1 "$SHM/cache" | cut -f1)"
      extra="$(jq -nc --argjson p "$peak" --argjson m "$mean" --argjson e "$end" --argjson r "$rss" \
        '{cache_bytes_end:$e, cache_bytes_peak:$p, cache_bytes_mean:$m, rss_kib_end:$r}')"
      echo "nginx: cache directory (sampled every 0.2 s) peak $peak bytes, mean $mean, $end at the end;" \
        "max_size $((KB * 1024)); RSS $rss KiB" | tee -a "$W/extras.txt"
      kill "$pid"; rm -f "$W/nginx.pid"
      ;;
  esac
  jq -c --argjson x "$extra" '. + $x' "$W/$s.json" >> "$W/results.jsonl"
  sleep 0.5
done

echo "== simulation of the edge's memory tier on the same sequence and budget"
"$ZIPF_LOAD" sim "${WL[@]}" --budget "$B" --case "$CASE" >> "$W/results.jsonl"
[ -n "${BENCH_JSONL:-}" ] && cat "$W/results.jsonl" >> "$BENCH_JSONL"

echo
echo "== results ($(date -u '+%F %H:%M') UTC; $(nproc) cores, load average $LOAD_BEFORE before," \
  "$(cut -d' ' -f1-3 /proc/loadavg) after; $CONNS connections)"
"$ZIPF_LOAD" table "$W/results.jsonl"
echo
cat "$W/extras.txt"
