#!/usr/bin/env bash
# A/B of two edge builds or settings on one origin: hits over the same 20 objects
# (100 KB-2 MB) as edge_vs_varnish_nginx.sh, wrk rounds alternating A, B, A, B ... so
# background load falls on both alike. Run by hand:
#
#   BIN=target/release/dashcdn [BIN_B=other/dashcdn] A_ENV="K=V" B_ENV="K=V" B_ARGS="..." \
#     ROUNDS=4 D=6 edge/bench/ab_two_edges.sh
#
# Prints one line per round and edge: req/s, p50, p99, and the 1-minute load average.
set -eu
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$REPO/target/release/dashcdn}"
BIN_B="${BIN_B:-$BIN}"
W="$(mktemp -d /tmp/edge-ab.XXXXXX)"
mkdir -p "$W/content/bench/v"
for i in $(seq 1 20); do head -c $((100000 + (i - 1) * 100000)) /dev/urandom > "$W/content/bench/v/$i.m4s"; done
{
  echo "local paths = {"; for i in $(seq 1 20); do echo "\"/bench/v/$i.m4s\","; done; echo "}"
  echo 'local i = 0'
  echo 'request = function() i = i + 1 return wrk.format("GET", paths[(i % #paths) + 1]) end'
} > "$W/paths.lua"
P="${BASE_PORT:-18380}"
env RUST_LOG=warn "$BIN" origin --content "$W/content" --listen 127.0.0.1:$P > "$W/o.log" 2>&1 & OP=$!
env RUST_LOG=warn ${A_ENV:-} "$BIN" edge --upstream http://127.0.0.1:$P --listen 127.0.0.1:$((P + 1)) \
  --id a --mem 1GiB ${A_ARGS:-} > "$W/a.log" 2>&1 & AP=$!
env RUST_LOG=warn ${B_ENV:-} "$BIN_B" edge --upstream http://127.0.0.1:$P --listen 127.0.0.1:$((P + 2)) \
  --id b --mem 1GiB ${B_ARGS:-} > "$W/b.log" 2>&1 & BP=$!
trap 'kill $OP $AP $BP 2>/dev/null; rm -rf "$W"' EXIT
sleep 1
for port in $((P + 1)) $((P + 2)); do
  for i in $(seq 1 20); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/bench/v/$i.m4s"
    curl -sf -o /dev/null "http://127.0.0.1:$port/bench/v/$i.m4s"
  done
done
for r in $(seq 1 "${ROUNDS:-4}"); do
  for x in a:$((P + 1)) b:$((P + 2)); do
    out="$(wrk -t2 -c64 -d"${D:-6}"s --latency -s "$W/paths.lua" "http://127.0.0.1:${x#*:}")"
    echo "round $r edge ${x%%:*}: $(awk '/Requests\/sec/{print $2}' <<<"$out") req/s" \
      "p50 $(awk '$1=="50%"{print $2}' <<<"$out") p99 $(awk '$1=="99%"{print $2}' <<<"$out")" \
      "load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
