#!/usr/bin/env bash
# The main job on the embedded default: the whole CDN on this machine, one command.
# Installs what it needs (Debian's nodejs/npm for dash.js, the npm packages of web/),
# builds the binary (release), then runs `dashcdn up`: packages the generated test pattern
# into ./content when absent, starts the origin, a shield, three edges (eu, us, ap) and the
# redirector as supervised processes (logs in run/up/), and prints the page URL
# (http://127.0.0.1:8000/): dash.js through the redirector and an edge, with a live panel
# and kill / throttle controls. Ctrl-C stops everything.
#
#   ./demo.sh                       # arguments are passed to `dashcdn up`, e.g.
#   ./demo.sh --players 50          # also run 50 simulated players through it
#   ./demo.sh --live                # also a live stream (dashcdn live) through the CDN, watched
#                                   # in the page (stream: low-latency live) with its latency
#   ./demo.sh --config examples/cdn.toml
ROOT="$(cd "$(dirname "$0")" && pwd)"
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

web_deps
log "cargo build --release (the first build takes 5-10 minutes on 2 cores; later runs start in seconds)"
cargo build --release --locked -p dashcdn
exec "$ROOT/target/release/dashcdn" up "$@"
