#!/usr/bin/env bash
# The same ABR with and without CMSD (issue 17): N real players behind one shared bottleneck
# (`player swarm --shared-bottleneck`) on one edge whose per-response rate limit drops from
# none to LOW bit/s DROP seconds into the run (the edge's admin endpoint), loopback only,
# real time (speed 1: the edge's etp is in wall-clock kbit/s). For each seed and each ABR in
# ABRS it starts a fresh origin and edge, runs the swarm, and prints one line: mean bitrate,
# rebuffer ratio, switches, Jain's fairness index, and how often the CMSD rules acted.
#
#   scripts/cmsd_compare.sh                          # throughput vs cmsd-throughput, seeds 1-3
#   ABRS="bola-e cmsd-bola-e" SEEDS=1 scripts/cmsd_compare.sh
#
#   DASHCDN_BIN (default target/debug/dashcdn), DASHCDN_CONTENT (default ./content; the
#   packaged default asset), OUT (results/cmsd_compare), PLAYERS (6), BOTTLENECK_MBPS (12),
#   LOW_BPS (600000), DROP_S (12), SEGMENTS (15).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${DASHCDN_BIN:-$ROOT/target/debug/dashcdn}"
CONTENT="${DASHCDN_CONTENT:-$ROOT/content}"
OUT="${OUT:-$ROOT/results/cmsd_compare}"
ABRS="${ABRS:-throughput cmsd-throughput}"
SEEDS="${SEEDS:-1 2 3}"
PLAYERS="${PLAYERS:-6}" BOTTLENECK_MBPS="${BOTTLENECK_MBPS:-12}" LOW_BPS="${LOW_BPS:-600000}"
DROP_S="${DROP_S:-12}" SEGMENTS="${SEGMENTS:-15}"
TOKEN="cmsd-compare-$$"
[ -f "$CONTENT/default/manifest.mpd" ] || { echo "no $CONTENT/default/manifest.mpd (dashcdn package --out $CONTENT)" >&2; exit 1; }

url_of() { for _ in $(seq 100); do grep -o "listening on http://[0-9.:]*" "$1" 2>/dev/null | head -1 | sed 's/listening on //' && return; sleep 0.1; done; }

run() { # ABR SEED DIR
  local dir=$3 op ep dp o e
  mkdir -p "$dir"
  "$BIN" origin --content "$CONTENT" --listen 127.0.0.1:0 >"$dir/origin.log" 2>&1 & op=$!
  o=$(url_of "$dir/origin.log")
  DASHCDN_EDGE_ADMIN_TOKEN=$TOKEN "$BIN" edge --upstream "$o" --listen 127.0.0.2:0 --id edge-a \
    --mem 256MiB >"$dir/edge.log" 2>&1 & ep=$!
  e=$(url_of "$dir/edge.log")
  (sleep "$DROP_S"; curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"bits_per_sec\":$LOW_BPS}" "$e/_dashcdn/limit-rate" >"$dir/drop.txt") & dp=$!
  "$BIN" player swarm --url "$e" --titles default --players "$PLAYERS" --arrival-window 4 --speed 1 \
    --segments "$SEGMENTS" --shared-bottleneck "$BOTTLENECK_MBPS" --abr "$1" --seed "$2" \
    --edge-metrics "$e" --origin-metrics "$o" --out "$dir" --quiet >"$dir/table.txt" 2>"$dir/stderr.txt" || true
  wait "$dp" || true
  kill "$ep" "$op" 2>/dev/null || true
  wait "$ep" "$op" 2>/dev/null || true
}

for seed in $SEEDS; do
  for abr in $ABRS; do
    run "$abr" "$seed" "$OUT/$abr-s$seed"
    python3 - "$OUT/$abr-s$seed" <<'EOF'
import json, sys
d = sys.argv[1]
r = json.load(open(f"{d}/swarm.json"))
q, f = r["qoe"], r["fairness"]["overall"]
rules = {}
for p in r["players"]:
    for k, v in p["cmsd_changes"].items():
        rules[k] = rules.get(k, 0) + v
print(f"{d.rsplit('/', 1)[1]:<24} players ok {r['players_ok']}/{r['run']['players']}  "
      f"bitrate {q['bitrate_kbps']['mean']:.0f} kbps  rebuffer {100 * q['rebuffer_ratio']['mean']:.2f} %  "
      f"switches {q['switches']['mean']:.2f}  Jain {f['jain']:.3f}  CMSD rules {rules or '-'}")
EOF
  done
done
