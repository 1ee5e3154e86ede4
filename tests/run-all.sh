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

summary="$build/ctest-summary.txt"
mkdir -p "$build"
rm -f "$summary"

# The ctest count is the closing line of every run, even when a stage
# (dependencies, build, ctest, fuzzers) failed; the exit status stays the
# first failure's.
closing_line() {
  local rc=$?
  local total="" failed=""
  if [ -f "$summary" ]; then
    total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$summary" | tail -1)
    failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$summary" | tail -1)
  fi
  if [ -n "$total" ] && [ -n "$failed" ]; then
    echo "ctest: $((total - failed)) passed, ${failed} failed$([ "$rc" -eq 0 ] || echo " (run-all.sh exits $rc)")"
  else
    echo "ctest: no count, ctest did not finish (run-all.sh exits $rc)"
  fi
  exit "$rc"
}
trap closing_line EXIT

# Prints how long each stage took, so a slow CI run shows where the time went.
stage_start=$SECONDS
stage_done() {
  echo "run-all.sh: $1 took $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
}

"$root/deploy/debian/install-deps.sh" --if-missing
stage_done "installing dependencies"
# Line tables (-g1) instead of full debug info: the same code, a third less
# compile time on CI's two cores; test programs build at -O1 -g1 anyway
# (MX_TEST_COMPILE_OPTIONS).
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build "$build" -j "$jobs"
stage_done "the build"
status=0
(cd "$build" && ctest --output-on-failure --timeout 600 -j "$jobs") 2>&1 | tee "$summary" ||
  status=$?
stage_done "ctest"

# The fuzzers run even after a ctest failure.
fuzz_seconds="${MX_FUZZ_SECONDS:-10}"
if [ "$fuzz_seconds" != "0" ]; then
  # -O0: the sanitized build in half the time; these are short smoke runs.
  if MX_FUZZ_BUILD_DIR="${MX_FUZZ_BUILD_DIR:-$root/build-fuzz}" MX_FUZZ_JOBS="$jobs" \
    MX_FUZZ_OPT="${MX_FUZZ_OPT:--O0}" \
    "$root/tests/fuzz/run_fuzzers.sh" "$fuzz_seconds"; then
    echo "fuzzers: every target ran ${fuzz_seconds}s without a crash"
  else
    fuzz_status=$?
    echo "fuzzers: FAILED (exit ${fuzz_status}), see above"
    [ "$status" -ne 0 ] || status=$fuzz_status
  fi
  stage_done "the fuzzers (clang build and runs)"
fi
exit "$status"
