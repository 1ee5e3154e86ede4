#!/usr/bin/env bash
# Builds mxd from this checkout and runs it in the foreground on :8001 with
# the in-memory store. Extra arguments go to mxd (see `mxd --help`).
# Usage: deploy/debian/run-mxd.sh [mxd flags...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/deploy/debian/install-deps.sh" --runtime-only
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release \
  -DMX_BUILD_TESTS=OFF -DMX_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$root/build-release" --target mxd -j "$(nproc)"
exec "$root/build-release/bin/mxd" "$@"
