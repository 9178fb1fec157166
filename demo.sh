#!/usr/bin/env bash
# The main job on the embedded default: package the generated test pattern (if not yet
# packaged), start the origin, serve the dash.js player page from a second origin, and
# print the URL that plays it. Ctrl-C stops both servers.
#   MEDIA_ADDR (default 127.0.0.1:8080), PAGE_ADDR (default 127.0.0.1:8000), DASHCDN_CONTENT (default ./content)
ROOT="$(cd "$(dirname "$0")" && pwd)"
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

MEDIA_ADDR="${MEDIA_ADDR:-127.0.0.1:8080}"
PAGE_ADDR="${PAGE_ADDR:-127.0.0.1:8000}"
CONTENT="${DASHCDN_CONTENT:-$ROOT/content}"

web_deps
log "cargo build --release"
cargo build --release --locked -p dashcdn
BIN="$ROOT/target/release/dashcdn"

log "dashcdn package -> $CONTENT (a no-op when already packaged)"
"$BIN" package --out "$CONTENT"

"$BIN" origin --content "$CONTENT" --listen "$MEDIA_ADDR" &
MEDIA_PID=$!
"$BIN" origin --content "$ROOT/web" --listen "$PAGE_ADDR" &
PAGE_PID=$!
trap 'kill $MEDIA_PID $PAGE_PID 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
sleep 1
kill -0 $MEDIA_PID && kill -0 $PAGE_PID

MPD_URL="http://$MEDIA_ADDR/default/manifest.mpd"
echo
echo "  MPD:    $MPD_URL"
echo "  Play:   http://$PAGE_ADDR/index.html?mpd=$MPD_URL"
echo
echo "  (Ctrl-C stops the origin and the page server)"
wait
