#!/usr/bin/env bash
# Installs what mxd needs to build and to run its tests on Debian 12.
# Usage: deploy/debian/install-deps.sh [--runtime-only] [--if-missing]   (root, or via sudo)
#   --runtime-only  only what building mxd and mxctl needs, not the test tools
#   --if-missing    do nothing (no apt-get update, no sudo) when every package
#                   is installed already; otherwise install only the missing ones
set -euo pipefail

runtime_only=0 if_missing=0
for arg in "$@"; do
  case "$arg" in
    --runtime-only) runtime_only=1 ;;
    --if-missing) if_missing=1 ;;
    *) echo "install-deps: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ] && [ "$if_missing" -eq 0 ]; then
  exec sudo --preserve-env=DEBIAN_FRONTEND "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive

build_packages=(
  build-essential cmake pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libspdlog-dev nlohmann-json3-dev libssl-dev
  libhiredis-dev libcurl4-openssl-dev zlib1g-dev libcpp-httplib-dev
)
test_packages=(
  libgtest-dev libgmock-dev redis-server redis-sentinel openssl python3 python3-yaml procps
  clang-14 libclang-rt-14-dev
)

packages=("${build_packages[@]}")
if [ "$runtime_only" -eq 0 ]; then
  packages+=("${test_packages[@]}")
fi

if [ "$if_missing" -eq 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  packages=("${missing[@]}")
  if [ "$(id -u)" -ne 0 ]; then
    exec sudo --preserve-env=DEBIAN_FRONTEND "$0" "$@"
  fi
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
# kubectl drives the fake Kubernetes API server in tests; it is not in
# Debian's own archive, so install it only where an apt source offers it.
if [ "$runtime_only" -eq 0 ] && ! command -v kubectl >/dev/null 2>&1; then
  if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get install -y -qq kubectl
  else
    echo "install-deps: kubectl is not available from apt; the kubectl tests will be skipped" >&2
  fi
fi
