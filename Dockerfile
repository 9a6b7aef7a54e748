# hangtight: build stage (Debian 12 -dev packages, Release build, as ./run
# does) and a slim runtime stage with the three binaries.
#   docker build -t hangtight:local .
#   docker compose up --scale worker=3
# docs/containers.md: Docker, podman, and the test that runs both files.

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHT_TESTS=OFF \
    && cmake --build build -j "$(nproc)"

FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libh2o0.13 libuv1 libhiredis0.14 libjansson4 libssl3 libcurl4 libicu72 zlib1g ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin hangtight \
    && install -d -o hangtight -g hangtight -m 0700 /var/lib/hangtight /var/lib/hangtight-blobs
COPY --from=build /src/build/hangtight /src/build/hangtight-api /src/build/hangtight-worker \
     /usr/local/bin/
USER hangtight
# Closed by default: the api serves beyond loopback only with API keys.  On
# its first start it creates /var/lib/hangtight/api-keys with one key of
# tenant "default" and logs it once (`docker compose logs api`); mount your
# own file there (or point HANGTIGHT_API_KEYS_FILE elsewhere) to choose.
# Mount a volume on /var/lib/hangtight to keep the generated key (the
# compose file does, for the api): no VOLUME here, or every container of
# the image (migrate, each worker) would leave an anonymous volume behind.
ENV HANGTIGHT_LISTEN=0.0.0.0:8080 \
    HANGTIGHT_API_KEYS_FILE=/var/lib/hangtight/api-keys \
    HANGTIGHT_GENERATE_API_KEY=1
EXPOSE 8080
# Each service of docker-compose.yml picks its command.
CMD ["hangtight-api"]
