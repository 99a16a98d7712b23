# Build: cargo in the official Rust image; run: a slim Debian with the binary, the assets and
# a non-root user. The database (and the token secret made beside it) lives on a volume.
# tests/ops.rs starts the binary with this file's ENV lines (the_binary_runs_with_the_...).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin arcade

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/arcade arcade \
 && install -d -o arcade -g arcade -m 700 /var/lib/arcade/data
COPY --from=build /src/target/release/arcade /usr/local/bin/arcade
COPY assets /usr/share/arcade/assets
USER arcade
WORKDIR /var/lib/arcade
# A new named volume takes the folder's owner (arcade) from the image.
VOLUME ["/var/lib/arcade/data"]
ENV ARCADE_LISTEN=0.0.0.0:8080 \
    ARCADE_DB=/var/lib/arcade/data/arcade.db \
    ARCADE_ASSETS=/usr/share/arcade/assets \
    ARCADE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/arcade"]
