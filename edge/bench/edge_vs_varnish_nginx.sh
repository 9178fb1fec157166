#!/usr/bin/env bash
# Side-by-side benchmark: dashcdn edge vs Varnish vs nginx proxy_cache, on this machine.
#
# Same objects (20 segments of 100 KB – 2 MB), same upstream (our origin behind a small
# proxy that delays the first byte by DELAY_MS and counts requests: `burst slow-origin`),
# same load tool (wrk from Debian). Run by hand, not in CI:
#
#   edge/bench/edge_vs_varnish_nginx.sh            # DURATION=10 CONNS=64 DELAY_MS=200 BURST=100 REPEAT=3
#   BIN=target/release/dashcdn BURSTBIN=target/release/examples/burst edge/bench/...  # no build
#   BENCH_JSONL=FILE edge/bench/...                # also append one JSON line per run (bench/run)
#   HITS_ONLY=1 EDGE_ARGS=".." EDGE_ENV="K=V .." edge/bench/...  # hits only; extra edge args/env
#   PLACEMENTS="split" edge/bench/...              # hits with one placement only (default: both)
#
# Hits are measured in two CPU placements, interleaved run by run (PLACEMENTS="split shared"):
#   split   wrk on CPU 0, every server (all its processes and threads) on CPUs 1..n-1 — the load
#           generator does not compete with the server it measures (needs 2+ cores);
#   shared  wrk and the servers on all cores, scheduled by the kernel.
# Why both: on shared cores the latency wrk reports depends on how the kernel interleaves wrk
# with the server's threads, not only on the server's work. wrk's clock runs from writing a
# request to reading the end of its response; "in window" (req/s x mean latency) estimates how
# many of the CONNS connections are on that clock at a time. On 2 shared cores the edge and
# Varnish serve the same req/s with the same CPU per request (theirs, and wrk's: "wrk ms/req"),
# yet about 35 of 64 connections are on the clock with Varnish and 55 with the edge: Varnish's
# hundreds of threads answer each request as soon as the kernel wakes them, and the rest of the
# cycle passes inside wrk between one response and the next request, off the clock ("in
# window" is indicative only: wrk's accounting lets it pass CONNS when latencies have long tails).
# Split placement gives each server the same CPU and keeps the queue on the server's side.
# For it the edge runs a second time, started on CPUs 1..n-1, so that its runtime sizes
# itself for the cores it has (one worker per core, as on a machine that size; pinned after
# start, two workers would share one core). Varnish's and nginx's thread and process counts do
# not depend on the cores, so they are moved where they run.
#
# Prints, per server: hit req/s, p50/p99 latency (wrk --latency over the warm object set)
# and the server's CPU milliseconds per request (user + system from /proc/PID/stat, with
# its child processes), measured REPEAT times with the servers interleaved (edge, varnish,
# nginx, edge, ...) so that background load falls on all alike; medians, then every run.
# Then the cold burst: BURST concurrent requests for one uncached object (150 KB and
# 1.5 MB) — how many requests reached the upstream and the waiters' p50/p99 versus one
# direct origin fetch, next to the same burst repeated warm (the cost of delivering
# BURST copies on this machine, which no amount of coalescing removes).
# Installs varnish, nginx-light and wrk with apt-get if missing. Everything runs on
# 127.0.0.1 ports BASE_PORT..BASE_PORT+5 and is stopped on exit.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
DELAY_MS="${DELAY_MS:-200}"
BURST="${BURST:-100}"
REPEAT="${REPEAT:-3}"
BASE_PORT="${BASE_PORT:-18180}"
ORIGIN_PORT=$BASE_PORT
SLOW_PORT=$((BASE_PORT + 1))
EDGE_PORT=$((BASE_PORT + 2))
VARNISH_PORT=$((BASE_PORT + 3))
NGINX_PORT=$((BASE_PORT + 4))
EDGE_SPLIT_PORT=$((BASE_PORT + 5))
NCPU="$(nproc)"
read -r -a PLACES <<< "${PLACEMENTS:-split shared}"
if [ "$NCPU" -lt 2 ]; then PLACES=(shared); fi
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
if ! need varnishd || ! need nginx || ! need wrk || [ ! -x /usr/bin/time ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y varnish nginx-light wrk time
fi
VARNISHD="$(command -v varnishd || echo /usr/sbin/varnishd)"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -z "${BIN:-}" ] || [ -z "${BURSTBIN:-}" ]; then
  echo "== building (release)"
  (cd "$REPO" && cargo build --release -q -p dashcdn && cargo build --release -q -p edge --example burst)
fi
BIN="${BIN:-$REPO/target/release/dashcdn}"
BURSTBIN="${BURSTBIN:-$REPO/target/release/examples/burst}"
echo "== binaries: $BIN, $BURSTBIN; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

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
start edge $EDGE_PORT env RUST_LOG=warn ${EDGE_ENV:-} "$BIN" edge --upstream "$UP" --listen 127.0.0.1:$EDGE_PORT \
  --id bench-edge --mem 1GiB ${EDGE_ARGS:-}
if [[ " ${PLACES[*]} " == *" split "* ]]; then
  start edge_split $EDGE_SPLIT_PORT taskset -c 1-$((NCPU - 1)) env RUST_LOG=warn ${EDGE_ENV:-} "$BIN" edge --upstream "$UP" \
    --listen 127.0.0.1:$EDGE_SPLIT_PORT --id bench-edge --mem 1GiB ${EDGE_ARGS:-}
  EDGE_SPLIT_PID="${PIDS[-1]}"
fi
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

declare -A PORT=([edge]=$EDGE_PORT [varnish]=$VARNISH_PORT [nginx]=$NGINX_PORT [edge_split]=$EDGE_SPLIT_PORT)
ORDER=(edge varnish nginx)

echo "== warming each cache with the ${#PATHS[@]} objects"
WARM=("${ORDER[@]}"); [ -n "${EDGE_SPLIT_PID:-}" ] && WARM+=(edge_split)
for s in "${WARM[@]}"; do
  for p in "${PATHS[@]}"; do
    curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}$p"
    curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}$p"
  done
done
edge_xc="$(curl -s -D - -o /dev/null "http://127.0.0.1:$EDGE_PORT${PATHS[0]}" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')"
echo "edge X-Cache after warm-up: $edge_xc"

# the server's main process id (varnishd and nginx: the parent, whose children do the work)
declare -A SPID=([edge]="${PIDS[2]}" [varnish]="$(cat "$W/varnish.pid")" [nginx]="$(cat "$W/nginx.pid")" [edge_split]="${EDGE_SPLIT_PID:-}")
instance() { # server placement -> the key of the instance measured (the edge started on CPUs 1..n-1 for split)
  if [ "$1" = edge ] && [ "$2" = split ]; then echo edge_split; else echo "$1"; fi
}
HZ="$(getconf CLK_TCK)"
cpu_ticks() { # pid -> utime+stime ticks of pid and its children
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    [[ -r /proc/$p/stat ]] || continue
    # fields 14, 15 after the ")" that closes the command name
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
to_ms() { # wrk latency (812.00us, 11.25ms, 1.02s) -> ms
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    else print "null" }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

declare -A CASE=([split]="20 objects 100KB-2MB, wrk on its own core" [shared]="20 objects 100KB-2MB, shared cores")
place() { # split|shared: moves Varnish's and nginx's processes and threads to their CPUs (the
  # edge has an instance per placement, started there); prints wrk's prefix
  local cpus=0-$((NCPU - 1)) s p
  [ "$1" = split ] && cpus=1-$((NCPU - 1))
  for s in "${ORDER[@]}"; do
    [ "$s" = edge ] && continue
    for p in "${SPID[$s]}" $(pgrep -P "${SPID[$s]}" || true); do taskset -a -p -c "$cpus" "$p" > /dev/null; done
  done
  [ "$1" = split ] && echo "taskset -c 0" || true
}
declare -A RPS P50 P99 CPU WCPU LOAD INWIN BUP BP50 BP99
for run in $(seq 1 "$REPEAT"); do
 for pl in "${PLACES[@]}"; do
  prefix="$(place "$pl")"
  for s in "${ORDER[@]}"; do
    k="$s,$pl,$run"
    load="$(cut -d' ' -f1 /proc/loadavg)"
    echo "== wrk run $run/$REPEAT, $pl: $s (hits, ${DURATION}s, $CONNS connections, $THREADS threads; load $load)"
    i="$(instance "$s" "$pl")"
    t0="$(cpu_ticks "${SPID[$i]}")"
    out="$($prefix /usr/bin/time -f '%U %S' -o "$W/wrk.time" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$W/paths.lua" "http://127.0.0.1:${PORT[$i]}")"
    t1="$(cpu_ticks "${SPID[$i]}")"
    echo "$out" | sed -n '/Thread Stats/,/requests in/p'
    reqs="$(echo "$out" | awk '/requests in/{print $1}')"
    RPS[$k]="$(echo "$out" | awk '/Requests\/sec/{print $2}')"
    P50[$k]="$(to_ms "$(echo "$out" | awk '$1=="50%"{print $2}')")"
    P99[$k]="$(to_ms "$(echo "$out" | awk '$1=="99%"{print $2}')")"
    mean="$(to_ms "$(echo "$out" | awk '$1=="Latency"{print $2; exit}')")"
    WCPU[$k]="$(awk -v n="$reqs" '{ if (n > 0) printf "%.3f", 1000 * ($1 + $2) / n; else print "null" }' "$W/wrk.time")"
    INWIN[$k]="$(awk -v r="${RPS[$k]}" -v m="$mean" 'BEGIN{ printf "%.1f", r * m / 1000 }')"
    CPU[$k]="$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$reqs" 'BEGIN{ if (n > 0) printf "%.3f", 1000 * t / hz / n; else print "null" }')"
    LOAD[$k]="$load"
    errs="$(echo "$out" | grep -E 'Non-2xx|Socket errors' || true)"
    [ -n "$errs" ] && echo "  !! $errs"
    if [ -n "${BENCH_JSONL:-}" ]; then
      printf '{"block":"edge_hits","case":"%s","placement":"%s","server":"%s","run":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"mean_ms":%s,"in_window":%s,"cpu_ms_per_req":%s,"wrk_cpu_ms_per_req":%s,"load1":%s,"conns":%s,"duration_s":%s,"errors":"%s"}\n' \
        "${CASE[$pl]}" "$pl" "$s" "$run" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "$mean" "${INWIN[$k]}" "${CPU[$k]}" "${WCPU[$k]}" "$load" "$CONNS" "$DURATION" "${errs:-}" >> "$BENCH_JSONL"
    fi
    sleep 1
  done
 done
done
place shared > /dev/null

BASE="-"
if [ -z "${HITS_ONLY:-}" ]; then
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
  if [ -n "${BENCH_JSONL:-}" ]; then
    for o in small big; do
      if [ $o = small ]; then c="150 KB"; b=150000; u=${SUP[$s]}; p5=${SP50[$s]}; p9=${SP99[$s]}; w=${SWP50[$s]}
      else c="1.5 MB"; b=1500000; u=${BUP[$s]}; p5=${BP50[$s]}; p9=${BP99[$s]}; w=${WP50[$s]}; fi
      printf '{"block":"edge_burst","case":"%s","server":"%s","run":1,"object_bytes":%s,"clients":%s,"upstream":%s,"p50_ms":%s,"p99_ms":%s,"warm_p50_ms":%s,"one_fetch_ms":%s}\n' \
        "$c" "$s" "$b" "$BURST" "$u" "$p5" "$p9" "$w" "$BASE" >> "$BENCH_JSONL"
    done
  fi
done
fi

echo
echo "== results ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s over 20 objects of 100 KB-2 MB; origin first byte +${DELAY_MS} ms)"
echo "one direct origin fetch (median of 3): $BASE ms"
echo
for pl in "${PLACES[@]}"; do
echo "hits, $pl placement (${CASE[$pl]}), median of $REPEAT interleaved runs (load average now: $(cut -d' ' -f1-3 /proc/loadavg)):"
printf '| %-8s | %10s | %9s | %9s | %11s | %11s | %9s |\n' server "req/s" "p50 ms" "p99 ms" "CPU ms/req" "wrk ms/req" "in window"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------- ------------ ----------- ----------- ------------- ------------- -----------
declare -A MRPS MP99
for s in "${ORDER[@]}"; do
  r=(); a=(); b=(); c=(); d=(); e=()
  for run in $(seq 1 "$REPEAT"); do
    k="$s,$pl,$run"
    r+=("${RPS[$k]}"); a+=("${P50[$k]}"); b+=("${P99[$k]}"); c+=("${CPU[$k]}"); d+=("${INWIN[$k]}"); e+=("${WCPU[$k]}")
  done
  MRPS[$s]="$(median "${r[@]}")"; MP99[$s]="$(median "${b[@]}")"
  printf '| %-8s | %10s | %9s | %9s | %11s | %11s | %9s |\n' "$s" "${MRPS[$s]}" "$(median "${a[@]}")" "${MP99[$s]}" "$(median "${c[@]}")" "$(median "${e[@]}")" "$(median "${d[@]}")/$CONNS"
done
awk -v a="${MRPS[edge]}" -v b="${MRPS[varnish]}" -v c="${MP99[edge]}" -v d="${MP99[varnish]}" -v pl="$pl" \
  'BEGIN{printf "edge/varnish, %s: req/s %.2fx, p99 %.2fx (goal: req/s >= 1.00x at p99 <= 1.00x)\n\n", pl, a/b, c/d}'
done
echo "every run (CPU = the server's, wrk = wrk's own, per request; in window = req/s x mean latency;"
echo "load = 1-minute load average when the run started):"
printf '| %-8s | %-6s | %3s | %10s | %9s | %9s | %11s | %11s | %9s | %5s |\n' server place run "req/s" "p50 ms" "p99 ms" "CPU ms/req" "wrk ms/req" "in window" load
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------- -------- ----- ------------ ----------- ----------- ------------- ------------- ----------- -------
for run in $(seq 1 "$REPEAT"); do
  for pl in "${PLACES[@]}"; do
    for s in "${ORDER[@]}"; do
      k="$s,$pl,$run"
      printf '| %-8s | %-6s | %3s | %10s | %9s | %9s | %11s | %11s | %9s | %5s |\n' "$s" "$pl" "$run" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "${CPU[$k]}" "${WCPU[$k]}" "${INWIN[$k]}" "${LOAD[$k]}"
    done
  done
done
[ -n "${HITS_ONLY:-}" ] && exit 0
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
