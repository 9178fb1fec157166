#!/usr/bin/env bash
# A swarm of real players through a local CDN: packages the default content (if needed),
# adds titles t1..t7 as symlinks to it, starts an origin, two edges and a redirector on
# 127.0.0.x, waits until the redirector sees both edges up, runs `dashcdn player swarm`
# through the redirector's HTTP 302, prints the report and stops the servers.
#
#   scripts/swarm.sh                      # 200 players, 8 titles, Zipf 0.8, HSDPA traces
#   scripts/swarm.sh --players 50 --titles default,t1 --speed 8 --segments 8
#
# Arguments replace the workload flags (everything but --url, --edge-metrics and
# --origin-metrics, which the script sets). Output: results/swarm (SWARM_OUT); the servers'
# logs stay in results/swarm/logs/ after the run (read them when something failed). Addresses
# that are already in use stop the script before anything starts.
#   DASHCDN_CONTENT (default ./content), SWARM_OUT (default results/swarm),
#   ORIGIN_ADDR (127.0.0.1:18080), EDGE_A (127.0.0.2:18081), EDGE_B (127.0.0.3:18081),
#   REDIRECTOR_HTTP (127.0.0.1:18053), REDIRECTOR_DNS (127.0.0.1:18054),
#   DASHCDN_BIN (a release dashcdn to use instead of building one),
#   SWARM_CPU (file: after the swarm, one line per process — name, CPU seconds (user+system) —
#   for origin, edge-a, edge-b, redirector and the players; bench/run's capacity block reads it)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

CONTENT="${DASHCDN_CONTENT:-$ROOT/content}"
OUT="${SWARM_OUT:-$ROOT/results/swarm}"
ORIGIN_ADDR="${ORIGIN_ADDR:-127.0.0.1:18080}"
EDGE_A="${EDGE_A:-127.0.0.2:18081}"
EDGE_B="${EDGE_B:-127.0.0.3:18081}"
REDIRECTOR_HTTP="${REDIRECTOR_HTTP:-127.0.0.1:18053}"
REDIRECTOR_DNS="${REDIRECTOR_DNS:-127.0.0.1:18054}"

if [ -n "${DASHCDN_BIN:-}" ]; then
  BIN="$DASHCDN_BIN"
else
  log "cargo build --release"
  cargo build --release --locked -p dashcdn
  BIN="$ROOT/target/release/dashcdn"
fi
"$BIN" package --out "$CONTENT" >/dev/null
for t in t1 t2 t3 t4 t5 t6 t7; do ln -sfn default "$CONTENT/$t"; done

require_free origin "$ORIGIN_ADDR"
require_free edge-a "$EDGE_A"
require_free edge-b "$EDGE_B"
require_free "redirector (HTTP)" "$REDIRECTOR_HTTP"
require_free "redirector (DNS)" "$REDIRECTOR_DNS" udp
require_free "redirector (DNS)" "$REDIRECTOR_DNS" tcp

WORK="$(mktemp -d)"
LOGS="$OUT/logs"
mkdir -p "$LOGS"
PIDS=()
on_exit() {
  local rc=$?
  kill "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
  [ "$rc" -eq 0 ] || echo "swarm.sh failed (exit $rc); server logs: $LOGS/{origin,edge-a,edge-b,redirector}.log" >&2
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM
cat >"$WORK/topology.toml" <<EOF
default_location = "here"
min_load = 1000000          # no bounded load: titles go to edges by rendezvous hashing only
[health]
interval_ms = 500
rise = 1
[[locations]]
name = "here"
lat = 50.0
lon = 8.0
networks = ["127.0.0.0/8"]
[[edges]]
id = "edge-a"
url = "http://$EDGE_A"
address = "${EDGE_A%:*}"
lat = 50.1
lon = 8.1
[[edges]]
id = "edge-b"
url = "http://$EDGE_B"
address = "${EDGE_B%:*}"
lat = 50.1
lon = 8.1
EOF

"$BIN" origin --content "$CONTENT" --listen "$ORIGIN_ADDR" >"$LOGS/origin.log" 2>&1 & PIDS+=($!)
"$BIN" edge --upstream "http://$ORIGIN_ADDR" --listen "$EDGE_A" --id edge-a --mem 1GiB >"$LOGS/edge-a.log" 2>&1 & PIDS+=($!)
"$BIN" edge --upstream "http://$ORIGIN_ADDR" --listen "$EDGE_B" --id edge-b --mem 1GiB >"$LOGS/edge-b.log" 2>&1 & PIDS+=($!)
"$BIN" redirector --topology "$WORK/topology.toml" --dns "$REDIRECTOR_DNS" --http "$REDIRECTOR_HTTP" >"$LOGS/redirector.log" 2>&1 & PIDS+=($!)

log "waiting for the redirector to see both edges up"
for _ in $(seq 100); do
  up=$(curl -s "http://$REDIRECTOR_HTTP/metrics" | grep -c '^redirector_edge_up{.*} 1$' || true)
  [ "$up" = 2 ] && break
  sleep 0.1
done
[ "$up" = 2 ] || { echo "the redirector does not see both edges up after 10 s" >&2; exit 1; }

if [ $# -eq 0 ]; then
  TRACES="$ROOT/../shared/abr-traces/pensieve/hsdpa_test"
  set -- --titles default,t1,t2,t3,t4,t5,t6,t7 --zipf 0.8 --players 200 --arrival-rate 4 \
    --speed 2 --segments 15 --abr bola-e --seed 1
  [ -d "$TRACES" ] && set -- "$@" --traces "$TRACES"
fi
log "dashcdn player swarm $*"
# The players' own log lines are filtered at warn (--player-log), so only failed players and
# the swarm's own lines reach the terminal beside the progress bar.
SWARM_CMD=("$BIN" --log "${DASHCDN_LOG:-info}" player swarm --url "http://$REDIRECTOR_HTTP/{title}/manifest.mpd"
  --edge-metrics "http://$EDGE_A,http://$EDGE_B" --origin-metrics "http://$ORIGIN_ADDR"
  --out "$OUT" "$@")
if [ -z "${SWARM_CPU:-}" ]; then
  "${SWARM_CMD[@]}"
else
  # CPU seconds of each server (from /proc, while they still run) and of the players
  # (GNU time's user + system of the swarm process).
  /usr/bin/time -f 'players %U %S' -o "$WORK/players.cpu" "${SWARM_CMD[@]}"
  hz=$(getconf CLK_TCK)
  names=(origin edge-a edge-b redirector)
  : > "$SWARM_CPU"
  for i in 0 1 2 3; do
    echo "${names[$i]} $(sed 's/.*) //' "/proc/${PIDS[$i]}/stat" | awk -v hz="$hz" '{printf "%.2f", ($12 + $13) / hz}')" >> "$SWARM_CPU"
  done
  awk '{printf "players %.2f\n", $2 + $3}' "$WORK/players.cpu" >> "$SWARM_CPU"
fi
