#!/usr/bin/env bash
# Origin vs nginx on one 1 MiB segment, loopback only.
#
#   origin/bench/origin_vs_nginx.sh            # defaults: wrk -t2 -c64 -d10s
#   DURATION=5s CONNECTIONS=32 origin/bench/origin_vs_nginx.sh
#
# Builds the origin (release, `--example serve`), writes a 1 MiB random seg.m4s to a
# temp content dir, starts the origin and (if installed) nginx with a temp config
# (daemon off, sendfile on, access_log off, same worker count as cores) on 127.0.0.1,
# runs `wrk --latency` against each in turn, prints a table, and stops both.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ORIGIN_PORT="${ORIGIN_PORT:-18080}"
NGINX_PORT="${NGINX_PORT:-18081}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"

command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }

WORK="$(mktemp -d /tmp/origin-bench.XXXXXX)"
ORIGIN_PID=""
NGINX_PID=""
cleanup() {
    [[ -n "$ORIGIN_PID" ]] && kill "$ORIGIN_PID" 2>/dev/null && wait "$ORIGIN_PID" 2>/dev/null || true
    [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/content" "$WORK/tmp"
head -c 1048576 /dev/urandom > "$WORK/content/seg.m4s"
chmod -R a+rX "$WORK"   # nginx workers may run as an unprivileged user

echo "building origin (release)..." >&2
(cd "$REPO" && cargo build --release -q -p origin --example serve)
BIN="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/examples/serve"
[[ -x "$BIN" ]] || BIN="$REPO/target/release/examples/serve"

wait_up() { # url
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2
    return 1
}

run_wrk() { # name url -> prints "name rps p50 p99 transfer"
    local name="$1" url="$2" out
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")"
    echo "$out" >"$WORK/wrk-$name.txt"
    local rps p50 p99 tr errs
    rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    tr="$(awk '/^Transfer\/sec:/ {print $2}' <<<"$out")"
    errs="$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")"
    echo "$name $rps $p50 $p99 $tr ${errs:-}"
}

"$BIN" --content "$WORK/content" --listen "127.0.0.1:$ORIGIN_PORT" &
ORIGIN_PID=$!
wait_up "http://127.0.0.1:$ORIGIN_PORT/healthz"
ORIGIN_ROW="$(run_wrk origin "http://127.0.0.1:$ORIGIN_PORT/seg.m4s")"
kill "$ORIGIN_PID"; wait "$ORIGIN_PID" 2>/dev/null || true; ORIGIN_PID=""

NGINX_ROW=""
if command -v nginx >/dev/null; then
    cat >"$WORK/nginx.conf" <<CONF
worker_processes $(nproc);
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
    types { video/iso.segment m4s; }
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
    nginx -e "$WORK/nginx-error.log" -p "$WORK" -c "$WORK/nginx.conf" &
    NGINX_PID=$!
    wait_up "http://127.0.0.1:$NGINX_PORT/seg.m4s"
    NGINX_ROW="$(run_wrk nginx "http://127.0.0.1:$NGINX_PORT/seg.m4s")"
    kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
else
    echo "nginx not installed: origin only" >&2
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency http://127.0.0.1:PORT/seg.m4s  (1 MiB file, $(nproc) cores, loopback)"
printf '%-8s %12s %10s %10s %12s  %s\n' server "req/s" p50 p99 transfer/s notes
for row in "$ORIGIN_ROW" "$NGINX_ROW"; do
    [[ -z "$row" ]] && continue
    read -r name rps p50 p99 tr notes <<<"$row"
    printf '%-8s %12s %10s %10s %12s  %s\n' "$name" "$rps" "$p50" "$p99" "$tr" "${notes:-}"
done
if [[ -n "$NGINX_ROW" ]]; then
    o="$(awk '{print $2}' <<<"$ORIGIN_ROW")"
    n="$(awk '{print $2}' <<<"$NGINX_ROW")"
    awk -v o="$o" -v n="$n" 'BEGIN { if (n > 0) printf "origin/nginx req/s ratio: %.2f\n", o / n }'
fi
