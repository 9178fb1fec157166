# Shared helpers for demo.sh and test.sh: install what is missing, loudly.
set -euo pipefail

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; exit 1; fi
}

# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# need_node: Node.js and npm (Debian's when absent).
need_node() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
}

# web_deps: dash.js (and playwright-core and hls.js for the tests) from npm (`npm ci`: the lock
# file decides the versions), and the vendored player scripts.
web_deps() {
  need_node
  log "npm ci (web/: dashjs, playwright-core, hls.js)"
  (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor)
}

# require_free NAME ADDR [udp]: fails with one line naming the component when ADDR (ip:port)
# cannot be bound (already in use, or not a local address), instead of letting a server
# die later or a client talk to a stale server left on that port.
require_free() {
  local name=$1 addr=$2 proto=${3:-tcp}
  python3 - "$addr" "$proto" 2>/dev/null <<'PY' || { echo "$name: $addr ($proto) is already in use or cannot be bound; stop what listens there or choose another address" >&2; exit 1; }
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
if kind == socket.SOCK_STREAM:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host.strip("[]"), int(port)))
PY
}
