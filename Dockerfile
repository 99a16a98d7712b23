# Build: cargo in the official Rust image; run: a slim Debian with the binary, the assets and
# a non-root user. The database lives on a volume.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin arcade

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/arcade arcade
COPY --from=build /src/target/release/arcade /usr/local/bin/arcade
COPY assets /usr/share/arcade/assets
USER arcade
WORKDIR /var/lib/arcade
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
