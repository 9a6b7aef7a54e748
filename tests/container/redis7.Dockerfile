# A stand-in for the official redis:7 image, for machines that reach no
# image registry (tests/container/test_compose.sh builds it when no redis:7
# image is present): Debian 12's redis-server on the debootstrapped base.
# The official image turns protected mode off at build time; this one adds
# --protected-mode no to a redis-server command, or Redis refuses the api
# and the workers, which connect from other containers.
FROM docker.io/library/debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /data
ENTRYPOINT ["/bin/sh", "-c", "[ \"$1\" = redis-server ] && set -- \"$@\" --protected-mode no; exec \"$@\"", "redis-entrypoint"]
CMD ["redis-server"]
