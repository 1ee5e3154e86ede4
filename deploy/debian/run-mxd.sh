#!/usr/bin/env bash
# Builds mxd and mxctl from this checkout (build-release/bin/) and runs mxd
# in the foreground on :8001 with the in-memory store. Installs the build
# packages only when some are missing. Extra arguments go to mxd (see
# `mxd --help`).
# Usage: deploy/debian/run-mxd.sh [mxd flags...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${MX_RELEASE_BUILD_DIR:-$root/build-release}"
"$root/deploy/debian/install-deps.sh" --runtime-only --if-missing
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DMX_BUILD_TESTS=OFF -DMX_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target mxd mxctl -j "$(nproc)"
echo "run-mxd: built $build/bin/mxd and $build/bin/mxctl" >&2
exec "$build/bin/mxd" "$@"
