#!/usr/bin/env bash
# Installs every Debian package ttdm needs to build, run and test. Idempotent and quiet
# when everything is already present. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libsodium-dev libssl-dev libsqlite3-dev
  libcmocka-dev sqlite3 curl ca-certificates
)
if [ "${TTDM_WITH_BENCH:-0}" = 1 ]; then
  packages+=(wrk)
fi
# The dashboard's browser tests: Debian's Chromium, driven by Playwright on Node.js. Node and
# npm may come from another packaging of Node.js already on the machine: install Debian's
# only when the commands are missing.
packages+=(chromium)
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
