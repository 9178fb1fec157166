#!/usr/bin/env bash
# The full HSDPA study timed whole, as a user runs it (README): every built-in algorithm over
# the 142 Pensieve HSDPA test traces, Pensieve model, all cores, with its CSV/JSONL/plot
# outputs written. RUNS times (default 3); one JSON line per run on stdout (and BENCH_JSONL).
#   bench/study_time.sh [RUNS]        DASHCDN_BIN=path (default target/release/dashcdn)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${DASHCDN_BIN:-$ROOT/target/release/dashcdn}"
SHARED="$ROOT/../shared/abr-traces/pensieve"
W="$(mktemp -d /tmp/study-time.XXXXXX)"
trap 'rm -rf "$W"' EXIT
for run in $(seq "${1:-3}"); do
  t0=$(date +%s.%N)
  "$BIN" --log warn player study --movie "$SHARED/envivio" --traces "$SHARED/hsdpa_test" \
    --model pensieve --abr all --out "$W/out" > "$W/summary.txt" 2>&1
  secs=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.3f", a - b}')
  n=$(sed -n 's/^\([0-9]*\) playbacks (.*/\1/p' "$W/summary.txt")
  row="{\"block\":\"sim_study\",\"case\":\"HSDPA study, 14 algorithms x 142 traces, pensieve model, outputs written\",\"server\":\"dashcdn\",\"run\":$run,\"playbacks\":${n:-0},\"secs\":$secs,\"cores\":$(nproc)}"
  echo "$row"
  [ -z "${BENCH_JSONL:-}" ] || echo "$row" >> "$BENCH_JSONL"
  rm -rf "$W/out"
done
