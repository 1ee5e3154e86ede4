#!/usr/bin/env bash
# A longer fault campaign: tests/chaos/soak.sh MINUTES (default 10), split
# between the Redis and the Kubernetes backend. Needs a build (build/bin/mx_chaos
# and build/bin/mxd; MX_BUILD_DIR overrides the folder). Exits non-zero when
# a write was lost, a lie was told, or a fault did not heal.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${MX_BUILD_DIR:-$root/build}"
minutes="${1:-10}"
half=$(( minutes * 30 ))
status=0
for backend in redis kubernetes; do
  "$build/bin/mx_chaos" --backend "$backend" --seconds "$half" || status=1
done
exit "$status"
