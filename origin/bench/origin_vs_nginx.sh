#!/usr/bin/env bash
# Origin vs nginx on the same content directory, loopback only: an MPD (~6 KiB), a 1 MiB
# and a 4 MiB segment, each run REPEAT times per server, medians printed.
#
#   origin/bench/origin_vs_nginx.sh            # defaults: wrk -t2 -c64 -d10s, 3 runs
#   DURATION=5s REPEAT=1 origin/bench/origin_vs_nginx.sh
#   ORIGIN_BIN=/path/to/serve origin/bench/origin_vs_nginx.sh   # another origin build
#   OBJECTS="seg1m.m4s" origin/bench/origin_vs_nginx.sh         # a subset
#   BASE_BIN=/path/to/old/serve origin/bench/origin_vs_nginx.sh  # + an older origin build,
#                                          # interleaved with the others (row "base")
#   DASHCDN_BIN=target/release/dashcdn origin/bench/origin_vs_nginx.sh # `dashcdn origin` itself
#   BENCH_JSONL=FILE ...                   # also append one JSON line per run (bench/run)
#   PLACEMENT=split ...                    # wrk on CPU 0, the servers started on CPUs 1..n-1
#                                          # and sized for them (origin: one worker per core;
#                                          # nginx: worker_processes n-1). Default shared: all
#                                          # on all cores. edge/bench/edge_vs_varnish_nginx.sh
#                                          # says why both are measured.
#
# Builds the origin (release, `--example serve`) unless ORIGIN_BIN is given, writes the
# objects (random bytes) to a temp content dir, starts the origin and nginx (Debian's, temp
# config: daemon off, sendfile on, tcp_nopush, access_log off, one worker per core) on
# 127.0.0.1, and for each object runs, per server and in turn, a 2 s warm-up then
# `wrk --latency`. For every run it records req/s, p50, p99 and the server's CPU seconds
# (user + system, from /proc/PID/stat of the server and its workers) per GB of body
# served (requests × object size). Rows: every run, then the medians and the ratios.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ORIGIN_PORT="${ORIGIN_PORT:-18080}"
NGINX_PORT="${NGINX_PORT:-18081}"
BASE_PORT="${BASE_PORT:-18082}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
REPEAT="${REPEAT:-3}"
OBJECTS="${OBJECTS:-manifest.mpd seg1m.m4s seg4m.m4s}"

command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 1; }
NGINX="$(command -v nginx || true)"
[[ -z "$NGINX" && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx

WORK="$(mktemp -d /tmp/origin-bench.XXXXXX)"
ORIGIN_PID=""
NGINX_PID=""
BASE_PID=""
cleanup() {
    [[ -n "$BASE_PID" ]] && kill "$BASE_PID" 2>/dev/null && wait "$BASE_PID" 2>/dev/null || true
    [[ -n "$ORIGIN_PID" ]] && kill "$ORIGIN_PID" 2>/dev/null && wait "$ORIGIN_PID" 2>/dev/null || true
    [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/content" "$WORK/tmp"
head -c 65536 /dev/urandom > "$WORK/content/seg64k.m4s"   # OBJECTS=seg64k.m4s: the sendfile threshold
head -c 1048576 /dev/urandom > "$WORK/content/seg1m.m4s"
head -c 4194304 /dev/urandom > "$WORK/content/seg4m.m4s"
{
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT60S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">'
    echo ' <Period id="0">'
    for kind in video audio; do
        echo "  <AdaptationSet contentType=\"$kind\" segmentAlignment=\"true\">"
        for r in $(seq 1 12); do
            echo "   <Representation id=\"${kind}${r}\" bandwidth=\"$((r * 250000))\" codecs=\"avc1.64001f\" width=\"1280\" height=\"720\" mimeType=\"$kind/mp4\">"
            echo "    <SegmentTemplate timescale=\"1000\" duration=\"4000\" initialization=\"${kind}${r}/init.mp4\" media=\"${kind}${r}/\$Number\$.m4s\" startNumber=\"1\"/>"
            echo "   </Representation>"
        done
        echo "  </AdaptationSet>"
    done
    echo ' </Period>'
    echo '</MPD>'
} > "$WORK/content/manifest.mpd"
chmod -R a+rX "$WORK"   # nginx workers may run as an unprivileged user

ORIGIN_SUB=()
if [[ -n "${DASHCDN_BIN:-}" ]]; then
    ORIGIN_BIN="$DASHCDN_BIN"
    ORIGIN_SUB=(--log warn origin)
elif [[ -z "${ORIGIN_BIN:-}" ]]; then
    echo "building origin (release)..." >&2
    (cd "$REPO" && cargo build --release -q -p origin --example serve)
    ORIGIN_BIN="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/examples/serve"
    [[ -x "$ORIGIN_BIN" ]] || ORIGIN_BIN="$REPO/target/release/examples/serve"
fi

wait_up() { # url
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2
    return 1
}

cpu_ticks() { # pid -> utime+stime ticks of pid and its children (nginx workers)
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        [[ -r /proc/$p/stat ]] || continue
        # fields 14, 15 after the ")" that closes the command name
        total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

HZ="$(getconf CLK_TCK)"
RESULTS="$WORK/results.txt"
: >"$RESULTS"

PLACEMENT="${PLACEMENT:-shared}"
WRK=(wrk)
ON_SERVER_CPUS=()
SERVER_CORES="$(nproc)"
CASE_SUFFIX=""
if [[ "$PLACEMENT" == split ]]; then
    [[ "$(nproc)" -ge 2 ]] || { echo "PLACEMENT=split needs 2 or more cores" >&2; exit 2; }
    WRK=(taskset -c 0 wrk)
    ON_SERVER_CPUS=(taskset -c "1-$(($(nproc) - 1))")
    SERVER_CORES=$(($(nproc) - 1))
    CASE_SUFFIX=", wrk on its own core"
fi

run_wrk() { # server pid url object size run
    local name="$1" pid="$2" url="$3" object="$4" size="$5" run="$6" out t0 t1
    "${WRK[@]}" -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    t0="$(cpu_ticks "$pid")"
    out="$("${WRK[@]}" -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")"
    t1="$(cpu_ticks "$pid")"
    local rps p50 p99 reqs errs
    rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
    errs="$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")"
    # CPU seconds per GB (10^9 bytes) of body served
    local cpu_gb
    cpu_gb="$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$reqs" -v s="$size" \
        'BEGIN { gb = n * s / 1e9; if (gb > 0) printf "%.3f", (t / hz) / gb; else print "-" }')"
    echo "$object $name $run $rps $(to_ms "$p50") $(to_ms "$p99") $cpu_gb ${errs:-}" | tee -a "$RESULTS" >&2
    if [[ -n "${BENCH_JSONL:-}" ]]; then
        printf '{"block":"origin","case":"%s","size_bytes":%s,"server":"%s","run":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"cpu_s_per_gb":%s,"errors":"%s","conns":%s,"duration":"%s"}\n' \
            "$object$CASE_SUFFIX" "$size" "$name" "$run" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "${cpu_gb/-/null}" "${errs:-}" "$CONNECTIONS" "$DURATION" >>"$BENCH_JSONL"
    fi
}

to_ms() { # wrk latency (e.g. 812.00us, 11.25ms, 1.02s) -> ms
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
        else print v }'
}

start_origin() {
    "${ON_SERVER_CPUS[@]}" "$ORIGIN_BIN" "${ORIGIN_SUB[@]}" --content "$WORK/content" --listen "127.0.0.1:$ORIGIN_PORT" &
    ORIGIN_PID=$!
    wait_up "http://127.0.0.1:$ORIGIN_PORT/healthz"
}

start_nginx() {
    cat >"$WORK/nginx.conf" <<CONF
worker_processes $SERVER_CORES;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    open_file_cache max=100 inactive=60s;
    types { video/iso.segment m4s; application/dash+xml mpd; }
    default_type application/octet-stream;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/content;
        location / { add_header Access-Control-Allow-Origin * always; }
    }
}
CONF
    "${ON_SERVER_CPUS[@]}" "$NGINX" -e "$WORK/nginx-error.log" -p "$WORK" -c "$WORK/nginx.conf" &
    NGINX_PID=$!
    wait_up "http://127.0.0.1:$NGINX_PORT/seg1m.m4s"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
start_origin
if [[ -n "${BASE_BIN:-}" ]]; then
    "${ON_SERVER_CPUS[@]}" "$BASE_BIN" --content "$WORK/content" --listen "127.0.0.1:$BASE_PORT" &
    BASE_PID=$!
    wait_up "http://127.0.0.1:$BASE_PORT/healthz"
fi
[[ -n "$NGINX" ]] && start_nginx || echo "nginx not installed: origin only" >&2
# Interleaved, so that load from elsewhere falls on both servers alike.
for object in $OBJECTS; do
    size="$(stat -c %s "$WORK/content/$object")"
    for run in $(seq 1 "$REPEAT"); do
        run_wrk origin "$ORIGIN_PID" "http://127.0.0.1:$ORIGIN_PORT/$object" "$object" "$size" "$run"
        [[ -n "$BASE_PID" ]] && run_wrk base "$BASE_PID" "http://127.0.0.1:$BASE_PORT/$object" "$object" "$size" "$run"
        [[ -n "$NGINX_PID" ]] && run_wrk nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/$object" "$object" "$size" "$run"
    done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $REPEAT runs each, medians; $(nproc) cores, loopback, placement $PLACEMENT"
echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
printf '%-14s %-7s %10s %9s %9s %9s  %s\n' object server "req/s" "p50 ms" "p99 ms" "CPU s/GB" "runs (req/s)"
median() { sort -g | awk '{a[NR]=$1} END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
for object in $OBJECTS; do
    for name in origin base nginx; do
        rows="$(awk -v o="$object" -v n="$name" '$1==o && $2==n' "$RESULTS")"
        [[ -z "$rows" ]] && continue
        rps="$(awk '{print $4}' <<<"$rows" | median)"
        p50="$(awk '{print $5}' <<<"$rows" | median)"
        p99="$(awk '{print $6}' <<<"$rows" | median)"
        cpu="$(awk '{print $7}' <<<"$rows" | median)"
        runs="$(awk '{printf "%s ", $4}' <<<"$rows")"
        printf '%-14s %-7s %10s %9s %9s %9s  %s\n' "$object" "$name" "$rps" "$p50" "$p99" "$cpu" "$runs"
        echo "$object $name $rps $p99 $cpu" >>"$WORK/medians.txt"
    done
    if [[ -n "$NGINX_PID" ]]; then
        awk -v o="$object" '$1==o && $2=="origin" {r=$3; p=$4; c=$5} $1==o && $2=="nginx" {nr=$3; np=$4; nc=$5}
            END { if (nr > 0) printf "%-14s origin/nginx: req/s %.2f×, p99 %.2f×, CPU/GB %.2f×\n", o, r/nr, p/np, c/nc }' \
            "$WORK/medians.txt"
    fi
    if [[ -n "$BASE_PID" ]]; then
        awk -v o="$object" '$1==o && $2=="origin" {r=$3; p=$4; c=$5} $1==o && $2=="base" {nr=$3; np=$4; nc=$5}
            END { if (nr > 0) printf "%-14s origin/base:  req/s %.2f×, p99 %.2f×, CPU/GB %.2f×\n", o, r/nr, p/np, c/nc }' \
            "$WORK/medians.txt"
    fi
done
