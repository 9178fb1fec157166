#!/usr/bin/env bash
# By-hand benchmark of the redirector (not run by CI):
#   DNS queries/s with dnsperf against `dashcdn redirector` and, side by side, against
#   Knot DNS with mod-geoip in subnet mode answering the same name from an equivalent
#   configuration (same subnets → same addresses); HTTP redirects/s with wrk.
# Usage: redirector/bench/bench.sh [SECONDS] [ROUNDS]   (Debian: installs dnsperf knot knot-module-geoip wrk)
#   ROUNDS (default 3) rounds, the two DNS servers in alternating order, then ROUNDS wrk runs of
#   the HTTP 302; medians and every run printed. DASHCDN_BIN=path skips the build;
#   BENCH_JSONL=FILE also appends one JSON line per run (bench/run).
#
#   redirector/bench/bench.sh transport [SECONDS] [ROUNDS]
#   DNS transport only: the same answer logic served by the redirector's own loop and by
#   hickory-server's request handler (redirector/examples/dns_transport.rs, one process,
#   two ports), dnsperf against each in turn for ROUNDS rounds (order alternating);
#   prints every run and the medians. Installs dnsperf only.
# Everything listens on 127.0.0.1; nothing leaves the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
MODE=all
if [ "${1:-}" = transport ]; then MODE=transport; shift; fi
SECS="${1:-10}"
ROUNDS="${2:-$([ "$MODE" = transport ] && echo 5 || echo 3)}"
if [ "$MODE" = transport ]; then
  apt_install dnsperf bind9-dnsutils
  (cd "$ROOT" && cargo build --release -p redirector --features hickory-server --example dns_transport)
else
  apt_install dnsperf knot knot-module-geoip wrk bind9-dnsutils
  [ -n "${DASHCDN_BIN:-}" ] || (cd "$ROOT" && cargo build --release -p dashcdn)
fi
BIN="${DASHCDN_BIN:-$ROOT/target/release/dashcdn}"
W="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
DNS_PORT=55353; KNOT_PORT=55354; HTTP_PORT=58053; HICKORY_PORT=55355

# The same data for both: 3 edges, 3 client subnets (+ 2000 more /24s spread over them,
# so the lookup is not trivially small), default → edge 1.
python3 - "$W" <<'PY'
import sys, os
w = sys.argv[1]
edges = [("paris", "127.0.0.1", 48.85, 2.35), ("nyc", "127.0.0.2", 40.71, -74.0), ("tokyo", "127.0.0.3", 35.68, 139.69)]
zones = [("eu", 50.11, 8.68, ["192.0.2.0/24"], 0), ("us", 38.9, -77.03, ["198.51.100.0/24"], 1), ("asia", 34.69, 135.5, ["203.0.113.0/24"], 2)]
extra = [[], [], []]
for i in range(2000):
    extra[i % 3].append(f"10.{i // 256}.{i % 256}.0/24")
t = ['default_location = "eu"', 'cdn_name = "cdn.example.test"', "[dns]", "ttl = 10", "[health]", "interval_ms = 1000"]
for eid, ip, lat, lon in edges:
    t += ["[[edges]]", f'id = "{eid}"', f'url = "http://{ip}:9"', f'address = "{ip}"', f"lat = {lat}", f"lon = {lon}"]
for (name, lat, lon, nets, e), more in zip(zones, extra):
    allnets = ", ".join(f'"{n}"' for n in nets + more)
    t += ["[[locations]]", f'name = "{name}"', f"lat = {lat}", f"lon = {lon}", f"networks = [{allnets}]"]
open(os.path.join(w, "topology.toml"), "w").write("\n".join(t) + "\n")
g = ["cdn.example.test:"]
for (name, lat, lon, nets, e), more in zip(zones, extra):
    for n in nets + more:
        g += [f"  - net: {n}", f"    A: {edges[e][1]}"]
g += ["  - net: 0.0.0.0/0", f"    A: {edges[0][1]}"]
open(os.path.join(w, "geo.conf"), "w").write("\n".join(g) + "\n")
open(os.path.join(w, "example.test.zone"), "w").write(
    "$ORIGIN example.test.\n$TTL 10\n@ SOA ns1 hostmaster 1 3600 600 86400 10\n@ NS ns1\nns1 A 127.0.0.1\ncdn A 127.0.0.1\n")
open(os.path.join(w, "queries.txt"), "w").write("cdn.example.test A\n")
PY
mkdir -p "$W/knot"
cat > "$W/knot.conf" <<KNOT
server:
    listen: 127.0.0.1@$KNOT_PORT
    rundir: $W/knot
    udp-workers: 2
    tcp-workers: 1
    edns-client-subnet: on
database:
    storage: $W/knot
log:
  - target: stderr
    any: warning
mod-geoip:
  - id: geo
    config-file: $W/geo.conf
    ttl: 10
    mode: subnet
template:
  - id: default
    storage: $W
    semantic-checks: off
zone:
  - domain: example.test
    file: example.test.zone
    module: mod-geoip/geo
KNOT

# ECS 192.0.2.0/24 on every query: family 1, source 24, scope 0, address c0 00 02.
ECS="8:00011800c00002"
qps() { dnsperf -s 127.0.0.1 -p "$1" -d "$W/queries.txt" -l "$SECS" -c 4 -Q 2000000 -q 500 -E "$ECS" 2>&1 | awk '/Queries per second/ {print $4}'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

if [ "$MODE" = transport ]; then
  "$ROOT/target/release/examples/dns_transport" "$W/topology.toml" 127.0.0.1:$DNS_PORT 127.0.0.1:$HICKORY_PORT > "$W/transport.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q ready "$W/transport.out" && break; sleep 0.1; done
  for port in $DNS_PORT $HICKORY_PORT; do
    a=$(dig @127.0.0.1 -p $port +short +subnet=198.51.100.0/24 cdn.example.test A)
    [ "$a" = "127.0.0.2" ] || { echo "transport on port $port answered '$a' for 198.51.100.0/24 (expected 127.0.0.2)" >&2; cat "$W/transport.out" >&2; exit 1; }
  done
  : > "$W/own"; : > "$W/hickory"
  for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="own hickory"; else order="hickory own"; fi
    for which in $order; do
      port=$DNS_PORT; [ "$which" = hickory ] && port=$HICKORY_PORT
      q=$(qps $port)
      log "round $r: $which $q qps"
      echo "$q" >> "$W/$which"
    done
  done
  O=$(median < "$W/own"); H=$(median < "$W/hickory")
  printf '\n%-44s %s\n' "DNS transport (dnsperf ${SECS}s x $ROUNDS, ECS)" "median qps (runs)"
  printf '%-44s %s (%s)\n' "own loop (blocking UDP threads)" "$O" "$(paste -sd' ' "$W/own")"
  printf '%-44s %s (%s)\n' "hickory-server RequestHandler" "$H" "$(paste -sd' ' "$W/hickory")"
  python3 -c "print(f'own / hickory-server qps ratio: {float(\"$O\")/float(\"$H\"):.2f}')"
  exit 0
fi

"$BIN" --log warn redirector --topology "$W/topology.toml" --dns 127.0.0.1:$DNS_PORT --http 127.0.0.1:$HTTP_PORT > "$W/redirector.out" &
PIDS+=($!); REDIRECTOR_PID=$!
knotd -c "$W/knot.conf" > "$W/knot.out" 2>&1 &
PIDS+=($!); KNOT_PID=$!
# CPU seconds (user + system, all threads) of a server so far, from /proc.
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}'; }
sleep 2

for port in $DNS_PORT $KNOT_PORT; do
  a=$(dig @127.0.0.1 -p $port +short +subnet=198.51.100.0/24 cdn.example.test A)
  [ "$a" = "127.0.0.2" ] || { echo "server on port $port answered '$a' for 198.51.100.0/24 (expected 127.0.0.2)" >&2; cat "$W"/*.out >&2; exit 1; }
done

jsonl() { [ -z "${BENCH_JSONL:-}" ] || echo "$1" >> "$BENCH_JSONL"; }
: > "$W/redirector.qps"; : > "$W/knot.qps"; : > "$W/http.rps"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="redirector knot"; else order="knot redirector"; fi
  for which in $order; do
    port=$DNS_PORT; pid=$REDIRECTOR_PID; [ "$which" = knot ] && { port=$KNOT_PORT; pid=$KNOT_PID; }
    c0=$(cpu_s $pid)
    q=$(qps $port)
    c1=$(cpu_s $pid)
    # server CPU microseconds per answered query (dnsperf and the server share the cores, so
    # a leaner server also leaves dnsperf more CPU: the two figures move together)
    us=$(awk -v a="$c0" -v b="$c1" -v q="$q" -v s="$SECS" 'BEGIN {printf "%.2f", (b - a) * 1e6 / (q * s)}')
    log "round $r: dnsperf ${SECS}s $which: $q qps, $us CPU us/query"
    echo "$q" >> "$W/$which.qps"
    echo "$us" >> "$W/$which.us"
    jsonl "{\"block\":\"dns\",\"case\":\"A with ECS, 2003 subnets\",\"server\":\"$which\",\"run\":$r,\"qps\":$q,\"cpu_us_per_query\":$us}"
  done
done
for r in $(seq "$ROUNDS"); do
  out=$(wrk -t2 -c64 -d"${SECS}s" --latency -H "X-Forwarded-For: 192.0.2.1" "http://127.0.0.1:$HTTP_PORT/default/v1/1.m4s")
  h=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms$/,"",v); else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000} print v}' <<<"$out")
  log "round $r: wrk ${SECS}s HTTP 302: $h req/s, p99 $p99 ms"
  echo "$h" >> "$W/http.rps"
  jsonl "{\"block\":\"http302\",\"case\":\"302 to the edge for the client's subnet\",\"server\":\"redirector\",\"run\":$r,\"rps\":$h,\"p99_ms\":$p99}"
done
R=$(median < "$W/redirector.qps"); K=$(median < "$W/knot.qps"); H=$(median < "$W/http.rps")

printf '\n%-44s %12s  %s\n' "what (medians of $ROUNDS runs of ${SECS}s)" "per second" "runs"
printf '%-44s %12s  %s\n' "DNS redirector (dnsperf, ECS)" "$R" "$(paste -sd' ' "$W/redirector.qps")"
printf '%-44s %12s  %s\n' "DNS knot mod-geoip subnet (dnsperf, ECS)" "$K" "$(paste -sd' ' "$W/knot.qps")"
printf '%-44s %12s  %s\n' "  redirector CPU us per query" "$(median < "$W/redirector.us")" "$(paste -sd' ' "$W/redirector.us")"
printf '%-44s %12s  %s\n' "  knot CPU us per query" "$(median < "$W/knot.us")" "$(paste -sd' ' "$W/knot.us")"
printf '%-44s %12s  %s\n' "HTTP 302 redirector (wrk -c64)" "$H" "$(paste -sd' ' "$W/http.rps")"
python3 -c "print(f'redirector / knot DNS qps ratio: {float(\"$R\")/float(\"$K\"):.2f}')"
