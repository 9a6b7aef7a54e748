#!/usr/bin/env bash
# Installs the Debian 12 packages hangtight needs, if any are missing.
#   scripts/deps.sh          what building and running need
#   scripts/deps.sh --test   plus what the tests need
#   scripts/deps.sh --bench  plus what the benchmarks need (bench/)
# Sourced or run; needs root (or sudo) only when something is missing.
set -euo pipefail

ht_deps_runtime=(
    build-essential cmake pkg-config
    libh2o-dev libuv1-dev libhiredis-dev libjansson-dev libssl-dev libcurl4-openssl-dev libicu-dev
    zlib1g-dev
    redis-server redis-tools curl ca-certificates
)
# nodejs: the sync-mode tests drive Node's http and fetch (tests/integration/clients).
# chromium, golang-go: the dashboard browser test and the Go client example (issue 9).
ht_deps_test=(libcriterion-dev jq python3 python3-requests procps nodejs chromium golang-go clang libclang-rt-14-dev)
# The container test (tests/container, docs/containers.md): podman with runc,
# podman-compose, debootstrap for the base image, and what podman only
# recommends: catatonit (the compose file's init: true), netavark and
# aardvark-dns (the stack's network and its service names), iptables
# (published ports).
ht_deps_test+=(podman podman-compose runc debootstrap catatonit netavark aardvark-dns iptables)
# time: GNU time's peak RSS in bench/blob/run.  h2o (the server, 2.2.5: its
# file.dir handler) and bc: bench/files/run.
ht_deps_bench=(wrk jq python3 procps nginx-light nodejs gunicorn python3-rq python3-flask linux-perf valgrind
    time h2o bc)

ht_deps_missing() {
    local pkg
    for pkg in "$@"; do
        # "install ok installed" is the only state in which the package works.
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

ht_deps_install() {
    local want=("${ht_deps_runtime[@]}")
    case "${1:-}" in
    --test) want+=("${ht_deps_test[@]}") ;;
    --bench) want+=("${ht_deps_bench[@]}") ;;
    esac
    local missing
    mapfile -t missing < <(ht_deps_missing "${want[@]}")
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    echo "deps: installing ${missing[*]}" >&2
    local sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null; then
            sudo=(sudo)
        else
            echo "deps: missing Debian packages: ${missing[*]}" >&2
            echo "deps: run as root, or install them: apt-get install ${missing[*]}" >&2
            return 1
        fi
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# npm, for the tests' pinned npm packages: Debian's nodejs comes without it
# (package npm), NodeSource's nodejs brings its own (and conflicts with
# Debian's npm package), so it is installed only when the command is absent.
ht_deps_npm() {
    command -v npm >/dev/null && return 0
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "deps: installing npm" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    ht_deps_install "$@"
fi
