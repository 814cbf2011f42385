# Banter in a container: docs/DEPLOYMENT.md ("Container image").
#   docker build -t banter .
#   docker run -d -p 127.0.0.1:8080:8080 -v banter-data:/data banter

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p banter \
 && install -m 0755 target/release/banter /usr/local/bin/banter

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin banter \
 && mkdir /data && chown banter:banter /data && chmod 0700 /data
COPY --from=build /usr/local/bin/banter /usr/local/bin/banter
USER banter
VOLUME /data
EXPOSE 8080
# SIGTERM (docker stop) drains connections for up to 5 s.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /api/v1/ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/banter"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
