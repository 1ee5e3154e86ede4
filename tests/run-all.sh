#!/usr/bin/env bash
# Installs dependencies, builds everything and runs every test with ctest.
# Tests start the services they need themselves (redis-server on a free
# loopback port, the fake Kubernetes API server), so nothing else is needed.
# Usage: tests/run-all.sh            (root, or a user with sudo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MX_BUILD_DIR:-$root/build}"
jobs="${MX_JOBS:-$(nproc)}"

"$root/deploy/debian/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure --timeout 600 -j "$jobs"
