#!/usr/bin/env bash
# Installs the Debian 12 packages flashsale needs to build, test and benchmark.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config python3
  dpdk dpdk-dev libdpdk-dev libnuma-dev libpcap-dev
  liburing-dev libsqlite3-dev sqlite3 libsodium-dev libcmocka-dev libhttp-parser-dev
  libpq-dev postgresql
  iproute2 iputils-ping netcat-openbsd faketime
  tmux   # tests/integration/test_top.py: flashsale top in a real terminal
  curl wrk  # the HTTP API's integration tests (test_http_api, test_http_load)
)
# Optional extras for the benchmark comparison (redis-server/redis-tools;
# nginx + lua-nginx-module for the HTTP anchors of scripts/bench_http.sh).
if [ "${FLASHSALE_BENCH_DEPS:-0}" = 1 ]; then
  PKGS+=(redis-server redis-tools nginx libnginx-mod-http-lua)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
