#!/usr/bin/env bash
# Installs dependencies, builds everything and runs every test with ctest.
# Tests start the services they need themselves (redis-server on a free
# loopback port, the fake Kubernetes API server), so nothing else is needed.
# Then gives each libFuzzer target a short run (MX_FUZZ_SECONDS, default 10;
# 0 skips it) in a separate clang build, as issue 6 asks of CI.
# Usage: tests/run-all.sh            (root, or a user with sudo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MX_BUILD_DIR:-$root/build}"
jobs="${MX_JOBS:-$(nproc)}"

"$root/deploy/debian/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$jobs"
summary="$build/ctest-summary.txt"
(cd "$build" && ctest --output-on-failure --timeout 600 -j "$jobs") | tee "$summary"

fuzz_seconds="${MX_FUZZ_SECONDS:-10}"
if [ "$fuzz_seconds" != "0" ]; then
  MX_FUZZ_BUILD_DIR="${MX_FUZZ_BUILD_DIR:-$root/build-fuzz}" MX_FUZZ_JOBS="$jobs" \
    "$root/tests/fuzz/run_fuzzers.sh" "$fuzz_seconds"
  echo "fuzzers: every target ran ${fuzz_seconds}s without a crash"
fi

# Repeat the test count last, so it is the closing line of the whole run.
total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$summary" | tail -1)
failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$summary" | tail -1)
echo "ctest: $((total - failed)) passed, ${failed} failed"
