#!/usr/bin/env bash
# The docker-compose deployment brought up for real (run by test.sh; by hand: as root,
# `scripts/compose_test.sh`). From nothing on a Debian 12 machine with no container registry:
#
#   1. installs docker.io, docker-compose, debootstrap (Debian packages) when missing, starts
#      dockerd when it is not running (and stops it again at the end);
#   2. makes the base image `debian:bookworm-slim` the Dockerfile names, when missing, with
#      `debootstrap --variant=minbase bookworm` + `docker import`; the rootfs tarball is
#      cached in /var/cache/dashcdn and the image is kept, so later runs skip this;
#   3. builds the image from the repository's Dockerfile, `--target prebuilt`, with the
#      host's binary (DASHCDN_BIN, default target/debug/dashcdn, stripped): no Rust image;
#   4. `docker-compose up -d` of the repository's docker-compose.yml under a unique project
#      name, with free ports and a fresh announce token; waits for health and for the three
#      edges to announce themselves;
#   5. plays the default content with `dashcdn player play` from the host, through the
#      redirector's 302 and directly from an edge;
#   6. `--scale edge=4`: the new edges are announced, routed to (302) and serve;
#   7. `docker stop` of the edge the redirector sends clients to: clients move within 3 s;
#      `docker kill` of the next one (no clean shutdown): the same, by health probes;
#   8. tears down containers, volumes, networks and the images it built (the cached base
#      image stays), on any exit (trap).
#
# It talks to the containers only through their 127.0.0.1 ports. Every step prints its
# duration; the summary at the end lists them all. Environment: DASHCDN_BIN (binary to put
# in the image), COMPOSE_TEST_KEEP=1 (leave everything up for inspection),
# DASHCDN_BASE_CACHE (default /var/cache/dashcdn).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

T0=$(date +%s.%N)
T_LAST=$T0
TIMINGS=()
FAILOVER_TIMES=()
# step NAME: closes the previous step (its duration) and logs the next.
CURRENT=""
step() {
  local now; now=$(date +%s.%N)
  if [ -n "$CURRENT" ]; then
    TIMINGS+=("$(awk -v a="$T_LAST" -v b="$now" -v n="$CURRENT" 'BEGIN {printf "%6.1f s  %s", b - a, n}')")
  fi
  T_LAST=$now
  CURRENT=$1
  [ -n "$1" ] && log "compose test: $1"
  return 0
}
fail() { echo "compose test FAILED: $*" >&2; exit 1; }
# within SECONDS CMD...: runs CMD every 0.2 s until it succeeds; false after SECONDS.
within() {
  local limit=$1; shift
  local end; end=$(( $(date +%s) + limit ))
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

set -E
trap 'echo "compose test: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
[ "$(id -u)" -eq 0 ] || fail "run as root (dockerd, debootstrap, docker import)"

step "install docker.io docker-compose debootstrap (if missing)"
apt_install docker.io docker-compose debootstrap binutils curl jq ca-certificates
# Debian's CLI matches Debian's daemon; a newer docker earlier in PATH works too.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
COMPOSE=(docker-compose)

WORK=$(mktemp -d /tmp/dashcdn-compose-test.XXXXXX)
chmod 755 "$WORK"
RUN_ID="$(date +%s)-$$"
PROJECT="dashcdn-ct-$RUN_ID"
IMAGE="dashcdn-compose-test:$RUN_ID"
STARTED_DOCKERD=""
BUILT_BIN="$ROOT/deploy/docker/bin/dashcdn"
BASE_IMAGE=debian:bookworm-slim
CACHE_DIR=${DASHCDN_BASE_CACHE:-/var/cache/dashcdn}
BASE_TAR="$CACHE_DIR/debian-bookworm-minbase.tar"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "${COMPOSE_TEST_KEEP:-0}" = 1 ]; then
    log "COMPOSE_TEST_KEEP=1: left up: project $PROJECT, image $IMAGE, work dir $WORK"
    exit $rc
  fi
  if [ $rc -ne 0 ] && [ -n "${COMPOSE_UP:-}" ]; then
    echo "---- docker-compose ps / logs (last 40 lines per service) ----" >&2
    "${COMPOSE[@]}" -p "$PROJECT" ps >&2
    "${COMPOSE[@]}" -p "$PROJECT" logs --no-color --tail=40 >&2
    [ -n "${REDIR:-}" ] && curl -s "$REDIR/debug/edges" >&2
  fi
  step "tear down (containers, volumes, networks, images)"
  if [ -n "${COMPOSE_UP:-}" ]; then
    "${COMPOSE[@]}" -p "$PROJECT" --profile swarm down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1
  fi
  "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 && "$DOCKER" rmi -f "$IMAGE" >/dev/null
  rm -f "$BUILT_BIN"
  for kind in "ps -a" "volume ls" "network ls"; do
    left=$("$DOCKER" $kind -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)
    [ -z "$left" ] || { echo "left behind ($kind): $left" >&2; rc=1; }
  done
  ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || { echo "image $IMAGE left behind" >&2; rc=1; }
  if [ -n "$STARTED_DOCKERD" ]; then
    kill "$STARTED_DOCKERD" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$WORK"
  step ""
  log "compose test timings (total $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s):"
  printf '  %s\n' "${TIMINGS[@]}" "${FAILOVER_TIMES[@]}" >&2
  [ $rc -eq 0 ] && log "compose test passed" || echo "compose test FAILED (exit $rc)" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "dockerd"
docker_ok() { "$DOCKER" info >/dev/null 2>&1; }
if ! docker_ok; then
  start_dockerd() {
    log "starting dockerd $* (log: $WORK/dockerd.log)"
    dockerd "$@" >"$WORK/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    within 60 docker_ok
  }
  if ! start_dockerd; then
    # Sandboxes without iptables/bridge support: every service here uses the host's
    # network, so the daemon does not need either.
    kill "$STARTED_DOCKERD" 2>/dev/null; wait "$STARTED_DOCKERD" 2>/dev/null
    tail -5 "$WORK/dockerd.log" >&2
    start_dockerd --iptables=false --ip6tables=false --bridge=none \
      || { tail -20 "$WORK/dockerd.log" >&2; fail "dockerd did not start"; }
  fi
fi
"$DOCKER" version --format 'docker client {{.Client.Version}}, daemon {{.Server.Version}}' >&2

step "base image $BASE_IMAGE (debootstrap + docker import, cached)"
if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "$BASE_IMAGE already present"
else
  if [ ! -s "$BASE_TAR" ]; then
    # The Debian mirror this machine's apt uses (deb822 or one-line sources).
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | sed -n 's/^URIs: *\([^ ]*\/debian\)\/\?$/\1/p; s/^deb  *\(\[[^]]*\] *\)\?\(http[^ ]*\/debian\)\/\? .*/\2/p' \
      | head -1 || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    log "debootstrap --variant=minbase bookworm from $MIRROR"
    DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    mkdir -p "$CACHE_DIR"
    tar -C "$WORK/rootfs" -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$WORK/rootfs"
  fi
  "$DOCKER" import --message "debootstrap --variant=minbase bookworm (scripts/compose_test.sh)" \
    "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

step "image $IMAGE (Dockerfile --target prebuilt)"
DASHCDN_BIN=${DASHCDN_BIN:-$ROOT/target/debug/dashcdn}
if [ ! -x "$DASHCDN_BIN" ]; then
  log "cargo build -p dashcdn"
  cargo build -p dashcdn --locked
fi
[ -f web/vendor/dash.all.min.js ] || web_deps
mkdir -p "$(dirname "$BUILT_BIN")"
strip -o "$BUILT_BIN" "$DASHCDN_BIN" 2>/dev/null || cp "$DASHCDN_BIN" "$BUILT_BIN"
"$DOCKER" build --quiet --target prebuilt -t "$IMAGE" "$ROOT" >/dev/null \
  || fail "docker build --target prebuilt"
rm -f "$BUILT_BIN"

step "docker-compose up -d (package, origin, redirector, 3 edges, page)"
free_port() {
  python3 -c 'import socket,sys
t=socket.socket(); t.bind(("127.0.0.1",0)); p=t.getsockname()[1]
if sys.argv[1]=="udp": u=socket.socket(type=socket.SOCK_DGRAM); u.bind(("127.0.0.1",p))
print(p)' "$1"
}
export DASHCDN_IMAGE=$IMAGE
export DASHCDN_ORIGIN_PORT; DASHCDN_ORIGIN_PORT=$(free_port tcp)
export DASHCDN_REDIRECTOR_PORT; DASHCDN_REDIRECTOR_PORT=$(free_port tcp)
export DASHCDN_DNS_PORT; DASHCDN_DNS_PORT=$(free_port udp)
export DASHCDN_PAGE_PORT; DASHCDN_PAGE_PORT=$(free_port tcp)
export DASHCDN_ANNOUNCE_TOKEN_FILE=$WORK/announce.token
head -c 24 /dev/urandom | base64 >"$DASHCDN_ANNOUNCE_TOKEN_FILE"
chmod 644 "$DASHCDN_ANNOUNCE_TOKEN_FILE" # read by the containers' uid 10001
export COMPOSE_FILE=$ROOT/docker-compose.yml
ORIGIN=http://127.0.0.1:$DASHCDN_ORIGIN_PORT
REDIR=http://127.0.0.1:$DASHCDN_REDIRECTOR_PORT
PAGE=http://127.0.0.1:$DASHCDN_PAGE_PORT
COMPOSE_UP=1
# `up` itself waits for the packager to finish and origin + redirector to be healthy.
timeout 600 "${COMPOSE[@]}" -p "$PROJECT" up -d --no-build >"$WORK/up.log" 2>&1 \
  || { cat "$WORK/up.log" >&2; fail "docker-compose up"; }

step "health: origin, redirector, page healthy; 3 edges announced and up"
health() { "$DOCKER" inspect -f '{{.State.Health.Status}}' "$("${COMPOSE[@]}" -p "$PROJECT" ps -q "$1")" 2>/dev/null; }
for s in origin redirector page; do
  within 60 test "$(health $s)" = healthy || fail "$s is not healthy: $(health $s)"
done
# `GET /debug/edges`: the edges the redirector knows, with their source and health.
edges_json() { curl -sf --max-time 2 "$REDIR/debug/edges"; }
edges_up() { edges_json | jq -r '(.edges? // .)[] | select(.source == "announced" and (.health|ascii_downcase) == "up") | .id' | sort; }
n_up() { [ "$(edges_up | wc -l)" -eq "$1" ]; }
within 30 n_up 3 || { edges_json >&2; fail "3 announced edges up expected"; }
edges_json | jq -c '(.edges? // .)[] | {id, url, region, source, health}' >&2
# The page serves what web/ holds (the image's /usr/share/dashcdn/web).
for f in $(cd web && git ls-files '*.html' '*.js' | grep -v -e '^tests/' -e '^scripts/') vendor/dash.all.min.js; do
  curl -sf -o /dev/null "$PAGE/$f" || fail "page: $PAGE/$f"
done
echo "  page: $PAGE/up.html?redirector=$REDIR&origin=$ORIGIN" >&2
curl -sf "$ORIGIN/default/manifest.mpd" | grep -q '<MPD' || fail "origin: the packaged default"

# location_of PATH [CLIENT]: where the redirector's 302 sends a client for PATH.
location_of() { curl -s -o /dev/null --max-time 2 -w '%{redirect_url}' "$REDIR$1"; }
url_of_edge() { edges_json | jq -r --arg id "$1" '(.edges? // .)[] | select(.id == $id) | .url'; }
id_of_url() { edges_json | jq -r --arg u "$1" '(.edges? // .)[] | select(.url == $u) | .id'; }
# play LABEL URL: `dashcdn player play` from the host; every request answered 200 by an edge.
play() {
  local out="$WORK/play-$1"
  timeout 120 "$DASHCDN_BIN" player play --url "$2" --speed 10 --out "$out" \
    >"$out.log" 2>&1 || { tail -20 "$out.log" >&2; fail "player play $1 ($2)"; }
  grep ' via ' "$out.log" | tail -1 >&2
  local bad
  bad=$(awk -F, 'NR > 1 && ($5 != 200 || $11 == "") {print}' "$out/fetches.csv")
  [ -z "$bad" ] || fail "player play $1: requests not answered 200 by an edge: $bad"
  awk -F, 'NR > 1 {print $11}' "$out/fetches.csv" | sort | uniq -c >&2
}

step "play the default content through the redirector (302) and from an edge"
play redirector "$REDIR/default/manifest.mpd"
SERVING_URL=$(location_of /default/manifest.mpd)
SERVING_URL=${SERVING_URL%/default/manifest.mpd}
[ -n "$(id_of_url "$SERVING_URL")" ] || fail "the 302 ($SERVING_URL) is not an announced edge"
play edge "$SERVING_URL/default/manifest.mpd"
grep -q ',HIT,' "$WORK/play-edge/fetches.csv" || fail "second play from $SERVING_URL: no HIT"

step "--scale edge=4: new edges announced, routed to and serving"
BEFORE=$(edges_up)
timeout 120 "${COMPOSE[@]}" -p "$PROJECT" up -d --no-build --no-recreate --scale edge=4 \
  >"$WORK/scale.log" 2>&1 || { cat "$WORK/scale.log" >&2; fail "docker-compose up --scale edge=4"; }
within 30 n_up 6 || { edges_json >&2; fail "6 announced edges up expected after --scale edge=4"; }
NEW=$(comm -13 <(echo "$BEFORE") <(edges_up))
[ "$(echo "$NEW" | wc -l)" -eq 3 ] || fail "3 new edges expected, got: $NEW"
for id in $NEW; do
  url=$(url_of_edge "$id")
  # The 302 hashes the asset: some asset name lands on this edge.
  hit=""
  for n in $(seq 1 200); do
    [ "$(location_of "/t$n/manifest.mpd")" = "$url/t$n/manifest.mpd" ] && { hit=t$n; break; }
  done
  [ -n "$hit" ] || fail "no 302 to the new edge $id ($url) for /t1../t200"
  served_by=$(curl -sf -D - -o /dev/null "$url/default/manifest.mpd" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-served-by"{print $2}')
  [ "$served_by" = "$id" ] || fail "new edge $id ($url): X-Served-By '$served_by'"
  curl -sf "$url/metrics" | awk '/^dashcdn_edge_requests_total/ {n += $NF} END {exit !(n > 0)}' \
    || fail "new edge $id: no request counted on its /metrics (dashcdn_edge_requests_total)"
  echo "  new edge $id at $url: 302 for /$hit/, serves /default/manifest.mpd" >&2
done

step "swarm profile: players through the redirector (docker-compose run swarm)"
DASHCDN_SWARM_PLAYERS=4 timeout 180 "${COMPOSE[@]}" -p "$PROJECT" --profile swarm run --rm swarm \
  >"$WORK/swarm.log" 2>&1 || { tail -30 "$WORK/swarm.log" >&2; fail "the swarm service"; }
grep -E '^edge-|byte hit ratio|fail' "$WORK/swarm.log" >&2 || true

# container_of URL: the edge container that printed `listening on URL`.
container_of() {
  local c
  for c in $("${COMPOSE[@]}" -p "$PROJECT" ps -q edge); do
    "$DOCKER" logs "$c" 2>/dev/null | grep -qx "listening on $1" && { echo "$c"; return; }
  done
}
# failover HOW: stops (docker stop|kill) the edge the 302 currently names and measures how
# long until the redirector names another one; fails above 3 s.
failover() {
  local how=$1 from to c t0 t1 ms id
  from=$(location_of /default/manifest.mpd); from=${from%/default/manifest.mpd}
  id=$(id_of_url "$from")
  c=$(container_of "$from")
  [ -n "$c" ] || fail "no container printed 'listening on $from'"
  t0=$(date +%s%N)
  "$DOCKER" "$how" "$c" >/dev/null
  moved() { to=$(location_of /default/manifest.mpd); [ -n "$to" ] && [ "${to%/default/manifest.mpd}" != "$from" ]; }
  within 10 moved || fail "docker $how $from: the redirector still sends clients there after 10 s"
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  echo "  docker $how of $id ($from): clients moved to $(id_of_url "${to%/default/manifest.mpd}") in $ms ms" >&2
  FAILOVER_TIMES+=("failover after docker $how of the serving edge: $ms ms")
  [ "$ms" -le 3000 ] || fail "docker $how: clients moved after $ms ms (> 3000)"
  # A clean shutdown withdraws the edge (DELETE /announce/ID); a killed one is probed down
  # (and expires after its missed heartbeats).
  gone() { [ -z "$(edges_json | jq -r --arg id "$id" '(.edges? // .)[] | select(.id == $id and .health != "down") | .id')" ]; }
  within 5 gone || fail "docker $how: $id still listed and not down on /debug/edges"
  edges_json | jq -c --arg id "$id" '(.edges? // .)[] | select(.id == $id) | {id, health, last_heartbeat_ms_ago}' >&2
}
step "docker stop of the serving edge: clients moved within 3 s"
failover stop
play after-stop "$REDIR/default/manifest.mpd"

step "docker kill of the serving edge (no clean shutdown): clients moved within 3 s"
failover kill

