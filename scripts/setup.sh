#!/usr/bin/env bash
# Installs the Debian packages spex needs to build, test and run. Idempotent:
# when every package is already present it only runs dpkg-query (well under a
# second) and touches nothing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libopenblas-dev liblapacke-dev libxgboost-dev libsqlite3-dev
      libjansson-dev libcmocka-dev libmicrohttpd-dev libcurl4-openssl-dev
      clang libclang-rt-14-dev clang-format python3 chromium
      python3-numpy python3-pytest python3-torch python3-setuptools python3-pip python3-venv
      parallel libopenmpi-dev openmpi-bin)
# the npm client test (tests/serve) installs the official openai package with
# npm; a Node.js that already brings npm (e.g. nodesource's) is kept
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#pkgs[@]} packages present"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
