#!/usr/bin/env bash
# Swarm capacity block of the proof suite: real players (`dashcdn player swarm`) through the
# local CDN of scripts/swarm.sh (an origin, two edges, the redirector's 302; everything on this
# machine's cores, players included), at a rising number of players, real time (speed 1).
#
#   bench/swarm_capacity.sh                 # STEPS="500 1000 2000 4000"
#   DASHCDN_BIN=target/release/dashcdn BENCH_JSONL=FILE bench/swarm_capacity.sh
#
# Workload per step: N players arriving uniformly over 10 s, 8 titles (Zipf 0.8), 10 segments
# (40 s) each with an 8 s buffer (so a player fetches at the pace it plays, as a real one does), BOLA-E, unshaped loopback (every player can hold the top rung, so QoE falls only
# when the machine runs out of CPU). Per step: players ok/failed, rebuffer ratio (mean, p90),
# mean bitrate, startup, the CPU seconds of the CDN (origin + edges + redirector) and of the
# players over the swarm's wall time, and "players per CDN core" = players per core the CDN
# servers used while serving them. A step meets the QoE bar when no player failed and the mean
# rebuffer ratio is below QOE_REBUF (default 0.01); the report quotes the largest such step.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
STEPS="${STEPS:-500 1000 2000 4000}"
BIN="${DASHCDN_BIN:-}"
if [ -z "$BIN" ]; then (cd "$ROOT" && cargo build --release --locked -p dashcdn); BIN="$ROOT/target/release/dashcdn"; fi
W="$(mktemp -d /tmp/swarm-capacity.XXXXXX)"
trap 'rm -rf "$W"' EXIT
for n in $STEPS; do
  log "swarm capacity: $n players"
  SWARM_OUT="$W/out-$n" SWARM_CPU="$W/cpu-$n" DASHCDN_BIN="$BIN" DASHCDN_LOG=warn \
    "$ROOT/scripts/swarm.sh" --titles default,t1,t2,t3,t4,t5,t6,t7 --zipf 0.8 --players "$n" --max-concurrent "$n" \
    --arrival-window 10 --speed 1 --segments 20 --buffer 8 --abr bola-e --seed 1 --quiet > "$W/log-$n" 2>&1 \
    || { tail -20 "$W/log-$n" >&2; echo "swarm of $n players failed" >&2; exit 1; }
  /usr/bin/python3 - "$W/out-$n/swarm.json" "$W/cpu-$n" "$n" "${QOE_REBUF:-0.01}" <<'PY'
import json, os, sys
rep = json.load(open(sys.argv[1]))
cpu = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[2]))
n, bar = int(sys.argv[3]), float(sys.argv[4])
q, run = rep['qoe'], rep['run']
wall = run['wall_s']
cdn = sum(v for k, v in cpu.items() if k != 'players')
row = {
    'block': 'swarm', 'case': '8 titles, 20 x 2 s segments, 8 s buffer, BOLA-E, unshaped, speed 1',
    'server': 'dashcdn', 'run': 1, 'players': n, 'players_ok': rep['players_ok'],
    'players_failed': rep['players_failed'], 'peak_concurrent': run['peak_concurrent'],
    'wall_s': round(wall, 2),
    'rebuffer_ratio_mean': q['rebuffer_ratio']['mean'], 'rebuffer_ratio_p90': q['rebuffer_ratio']['p90'],
    'bitrate_kbps_mean': q['bitrate_kbps']['mean'], 'startup_s_mean': q['startup_s']['mean'],
    'cdn_cpu_s': round(cdn, 2), 'players_cpu_s': round(cpu.get('players', 0.0), 2),
    'cdn_cores': round(cdn / wall, 3), 'players_cores': round(cpu.get('players', 0.0) / wall, 3),
    'hit_ratio_players': rep['totals']['player_counts']['hits'] / max(1, rep['totals']['player_counts']['requests']),
    'origin_offload': rep['totals'].get('origin_offload'),
}
row['players_per_cdn_core'] = round(run['peak_concurrent'] / row['cdn_cores'], 1) if row['cdn_cores'] > 0 else None
row['meets_qoe'] = rep['players_failed'] == 0 and q['rebuffer_ratio']['mean'] < bar
print(json.dumps(row))
if os.environ.get('BENCH_JSONL'):
    open(os.environ['BENCH_JSONL'], 'a').write(json.dumps(row) + '\n')
PY
done
