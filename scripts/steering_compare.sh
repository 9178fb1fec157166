#!/usr/bin/env bash
# Distance-only vs closed-loop steering with one edge slowed (issue 17): the same swarm of
# real players twice through a local CDN — origin, edge-a (slowed with --limit-rate), edge-b
# (both at the same place, so distance alone cannot tell them apart) and a redirector whose
# topology differs in one line, `[closed_loop] mode = "distance"` then `"closed-loop"`.
# Players start from the redirector's steered MPD (/steered/{title}/manifest.mpd) and follow
# its content steering manifest (/steer, re-asked every TTL) during playback; they send CMCD
# (query mode) so the edges can report buffer starvation and measured throughput on /metrics,
# which the redirector scrapes. Every run starts fresh servers (cold caches both times).
#
#   scripts/steering_compare.sh             # 40 players, 60 s arrivals, speed 4, 15 segments
#   PLAYERS=20 SPEED=8 scripts/steering_compare.sh
#
# Prints one table (rebuffer ratio, mean bitrate, per-edge request share, Jain's fairness
# index of the players' mean bitrates, the redirector's reasons) and leaves each run's
# swarm output, the redirector's decision log and the server logs in $OUT/<mode>/.
#   DASHCDN_BIN (default: cargo build --release, target/release/dashcdn), DASHCDN_CONTENT
#   (./content), OUT (results/steering), PLAYERS (40), WINDOW (arrival window, session s, 60),
#   SPEED (4), SEGMENTS (15), TITLES (default,t1,t2,t3), LIMIT (edge-a's cap per response,
#   bits/s of wall time; default 120 kbit/s of session time × SPEED, below the lowest
#   rung plus audio), ABR (bola-e), SEED (1), BASE_PORT (18180).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

CONTENT="${DASHCDN_CONTENT:-$ROOT/content}"
OUT="${OUT:-$ROOT/results/steering}"
PLAYERS="${PLAYERS:-40}"
WINDOW="${WINDOW:-60}"
SPEED="${SPEED:-4}"
SEGMENTS="${SEGMENTS:-15}"
TITLES="${TITLES:-default,t1,t2,t3}"
ABR="${ABR:-bola-e}"
SEED="${SEED:-1}"
LIMIT="${LIMIT:-$(python3 -c "print(int(120000 * float('$SPEED')))")}"
PORT="${BASE_PORT:-18180}"
ORIGIN_ADDR="127.0.0.1:$PORT"
EDGE_A="127.0.0.2:$((PORT + 1))"
EDGE_B="127.0.0.3:$((PORT + 1))"
REDIRECTOR_HTTP="127.0.0.1:$((PORT + 2))"

if [ -n "${DASHCDN_BIN:-}" ]; then
  BIN="$DASHCDN_BIN"
else
  log "cargo build --release"
  cargo build --release --locked -p dashcdn
  BIN="$ROOT/target/release/dashcdn"
fi
[ -f "$CONTENT/default/manifest.mpd" ] || "$BIN" package --out "$CONTENT" >/dev/null
for t in ${TITLES//,/ }; do [ "$t" = default ] || ln -sfn default "$CONTENT/$t"; done

PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
on_exit() {
  local rc=$?
  stop_all
  [ "$rc" -eq 0 ] || echo "steering_compare.sh failed (exit $rc); logs in $OUT/<mode>/logs/" >&2
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

run_mode() {
  local mode=$1 dir="$OUT/$1"
  rm -rf "$dir"
  mkdir -p "$dir/logs"
  require_free origin "$ORIGIN_ADDR"
  require_free edge-a "$EDGE_A"
  require_free edge-b "$EDGE_B"
  require_free redirector "$REDIRECTOR_HTTP"
  cat >"$dir/topology.toml" <<EOF
default_location = "here"
min_load = 1000000          # no bounded load: titles go to edges by rendezvous hashing only
[health]
interval_ms = 250
rise = 1
[steering]
ttl = 1                     # players re-ask /steer every session second
origin = "http://$ORIGIN_ADDR"
[closed_loop]
mode = "$mode"
scrape_ms = 250
window_ms = 4000
min_cmcd_requests = 5
hold_ms = 1000
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
  "$BIN" origin --content "$CONTENT" --listen "$ORIGIN_ADDR" >"$dir/logs/origin.log" 2>&1 & PIDS+=($!)
  "$BIN" edge --upstream "http://$ORIGIN_ADDR" --listen "$EDGE_A" --id edge-a --mem 1GiB \
    --limit-rate "$LIMIT" >"$dir/logs/edge-a.log" 2>&1 & PIDS+=($!)
  "$BIN" edge --upstream "http://$ORIGIN_ADDR" --listen "$EDGE_B" --id edge-b --mem 1GiB \
    >"$dir/logs/edge-b.log" 2>&1 & PIDS+=($!)
  "$BIN" redirector --topology "$dir/topology.toml" --http "$REDIRECTOR_HTTP" \
    >"$dir/logs/redirector.log" 2>&1 & PIDS+=($!)
  local up=0
  for _ in $(seq 100); do
    up=$(curl -s "http://$REDIRECTOR_HTTP/metrics" | grep -c '^redirector_edge_up{.*} 1$' || true)
    [ "$up" = 2 ] && break
    sleep 0.1
  done
  [ "$up" = 2 ] || { echo "$mode: the redirector does not see both edges up after 10 s" >&2; exit 1; }
  log "$mode: $PLAYERS players, titles $TITLES, speed $SPEED, edge-a capped at $LIMIT bit/s"
  "$BIN" --log warn player swarm --url "http://$REDIRECTOR_HTTP/steered/{title}/manifest.mpd" \
    --titles "$TITLES" --zipf 0 --players "$PLAYERS" --arrival-window "$WINDOW" \
    --speed "$SPEED" --segments "$SEGMENTS" --abr "$ABR" --cmcd query --seed "$SEED" --quiet \
    --edge-metrics "http://$EDGE_A,http://$EDGE_B" --out "$dir/swarm" >"$dir/swarm.txt"
  curl -s "http://$REDIRECTOR_HTTP/debug/decisions?n=256" >"$dir/decisions.json"
  curl -s "http://$REDIRECTOR_HTTP/metrics" >"$dir/redirector.metrics"
  stop_all
}

run_mode distance
run_mode closed-loop

python3 - "$OUT" <<'PY'
import json, sys, collections
out = sys.argv[1]
rows = []
for mode in ("distance", "closed-loop"):
    r = json.load(open(f"{out}/{mode}/swarm/swarm.json"))
    ok = [p for p in r["players"] if p.get("metrics")]
    media = collections.Counter()
    with open(f"{out}/{mode}/swarm/fetches.csv") as f:
        head = f.readline().strip().split(",")
        kind, url = head.index("kind"), head.index("url")
        for line in f:
            c = line.rstrip("\n").split(",")
            if c[kind] == "media":
                media[c[url].split("/")[2]] += 1
    total = sum(media.values()) or 1
    share = lambda ip: sum(v for k, v in media.items() if k.startswith(ip)) / total
    mean = lambda k: sum(p["metrics"][k] for p in ok) / max(len(ok), 1)
    reasons = collections.Counter(d["reason"] for d in json.load(open(f"{out}/{mode}/decisions.json"))["decisions"])
    rows.append((mode, len(ok), len(r["players"]), mean("rebuffer_ratio"), mean("mean_bitrate_kbps"),
                 share("127.0.0.2"), share("127.0.0.3"), r["fairness"]["overall"]["jain"],
                 ", ".join(f"{k} {v}" for k, v in reasons.most_common())))
print()
print("| steering | players ok | rebuffer ratio (mean) | mean bitrate kbps | media requests edge-a (slowed) | edge-b | Jain's fairness (bitrates) | redirector reasons (last 256 answers) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for m, ok, n, rb, br, a, b, j, why in rows:
    jv = f"{j:.3f}" if isinstance(j, (int, float)) else str(j)
    print(f"| {m} | {ok}/{n} | {rb:.3f} | {br:.0f} | {a:.0%} | {b:.0%} | {jv} | {why} |")
PY
