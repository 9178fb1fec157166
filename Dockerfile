# dashcdn: one image, every role (`docker run IMAGE origin|edge|redirector|package|player ...`).
#
#   docker compose build                      # the default target: `runtime`, built from source
#   docker build -t dashcdn:local .           # the same without compose
#   docker build --target prebuilt -t dashcdn:local .   # copies deploy/docker/bin/dashcdn,
#                                             # a binary built on the host (no Rust image needed)
#
# Both targets build with BuildKit and with Docker's legacy builder (Debian's docker.io 20.10,
# docker-compose v1), which builds every stage *before* the target.
#
# Stages, in this order on purpose: `--target prebuilt` (what scripts/compose_test.sh builds
# on machines with no registry) must not come after the `rust:` stage it does not need, and
# `prebuilt` builds without a binary too, since the legacy builder builds it on the way to
# `runtime`. BuildKit skips unused stages anyway.
#
#   runtime-base  debian:bookworm-slim + user `dashcdn` + the page (web/) + HEALTHCHECK
#   prebuilt      runtime-base + a host-built binary (glibc of Debian 12 or older)
#   build         rust:1-bookworm, `cargo build --release --locked -p dashcdn`
#   runtime       runtime-base + the binary of `build` (the default, last stage)
#
# The page's player script web/vendor/dash.all.min.js is made on the host by
# `npm ci && npm run vendor` in web/ (./demo.sh and ./test.sh do it) and copied from the
# build context: the Rust image has no Node.js. The build stops with a message if it is
# missing.

FROM debian:bookworm-slim AS runtime-base
# A system user with a fixed uid (volumes and Kubernetes' runAsUser can name it), no shell,
# no home. /content is the origin's content volume: a new named volume mounted there
# inherits this ownership, so `dashcdn package --out /content` can write it as non-root.
RUN groupadd --system --gid 10001 dashcdn \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin dashcdn \
    && mkdir -p /content /var/cache/dashcdn /usr/share/dashcdn/web \
    && chown dashcdn:dashcdn /content /var/cache/dashcdn
# web/ without its tests, scripts and npm files (.dockerignore).
COPY web/ /usr/share/dashcdn/web/
RUN if [ ! -f /usr/share/dashcdn/web/vendor/dash.all.min.js ]; then \
        echo "web/vendor/dash.all.min.js is missing: run 'npm ci && npm run vendor' in web/ first" >&2; \
        exit 1; fi
# `dashcdn healthcheck` GETs this URL (2 s timeout, exit 0 on 2xx): the image has no curl.
# Each service sets its own (docker-compose.yml, deploy/k8s/ use their own probes).
ENV DASHCDN_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 \
    CMD ["dashcdn", "healthcheck"]
USER dashcdn:dashcdn
WORKDIR /var/cache/dashcdn
ENTRYPOINT ["dashcdn"]
CMD ["--help"]

FROM runtime-base AS prebuilt
# The host-built binary, when deploy/docker/bin/ holds one. The directory always exists (its
# README is committed), so this stage also builds without a binary: Docker's legacy builder
# builds it on the way to `runtime`, which does not use it. Built as the target without a
# binary, the image's dashcdn only says so and exits 1.
COPY deploy/docker/bin/ /opt/dashcdn-prebuilt/
USER root
RUN if [ -f /opt/dashcdn-prebuilt/dashcdn ]; then \
        install -m 0755 /opt/dashcdn-prebuilt/dashcdn /usr/local/bin/dashcdn; \
    else \
        printf '#!/bin/sh\necho "dashcdn: this image was built with --target prebuilt but deploy/docker/bin/dashcdn was missing" >&2\nexit 1\n' \
            > /usr/local/bin/dashcdn && chmod 0755 /usr/local/bin/dashcdn; \
    fi \
    && rm -rf /opt/dashcdn-prebuilt
USER dashcdn:dashcdn

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p dashcdn \
    && install -s -m 0755 target/release/dashcdn /usr/local/bin/dashcdn

FROM runtime-base AS runtime
COPY --from=build /usr/local/bin/dashcdn /usr/local/bin/dashcdn
