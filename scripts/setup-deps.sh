#!/usr/bin/env bash
# Installs the Debian 12 packages Trainbench builds and runs with, and only those missing.
# Idempotent: when everything is present it asks no package server and returns in well under a
# second. Runs apt-get as root, or through sudo.
set -euo pipefail

# libqt6opengl6-dev is named because Qt Charts' CMake config needs Qt6OpenGL and qt6-base-dev only
# recommends it (recommends are not installed).
packages=(
  cmake ninja-build g++ git pkg-config
  libeigen3-dev nlohmann-json3-dev libsqlite3-dev zlib1g-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev libnanoflann-dev
  libxxhash-dev libzstd-dev libprotobuf-dev protobuf-compiler libhdf5-dev liblmdb-dev libzip-dev
  libopenmpi-dev openmpi-bin
  qt6-base-dev libqt6opengl6-dev qt6-charts-dev qt6-svg-dev libgl-dev
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup-deps: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
