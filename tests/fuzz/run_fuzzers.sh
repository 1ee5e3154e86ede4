#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) in their own build
# directory and runs each for SECONDS (default 30). Exits non-zero when a
# target crashes; the crashing input is left in $OUT/artifacts/<target>/.
#
#   tests/fuzz/run_fuzzers.sh 30          # CI
#   tests/fuzz/run_fuzzers.sh 3600        # a longer run before a release
#
# Env: MX_FUZZ_BUILD_DIR (default <repo>/build-fuzz), MX_FUZZ_JOBS (default 2),
#      MX_FUZZ_OPT (default -O1; CI's short runs use -O0, see tests/run-all.sh),
#      CC/CXX (default clang-14/clang++-14), MX_FUZZ_TARGETS (space-separated
#      subset). Needs: clang-14, libclang-rt-14-dev (libFuzzer and the sanitizer
#      runtimes), cmake, and the project's build dependencies.
# A crash becomes a regression test: copy the artifact into
# tests/fuzz/regressions/<target>/, fix the bug, and ctest replays it.
set -eu
SECONDS_PER_TARGET=${1:-30}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${MX_FUZZ_BUILD_DIR:-$REPO/build-fuzz}
JOBS=${MX_FUZZ_JOBS:-2}
CC=${CC:-clang-14}
CXX=${CXX:-clang++-14}
# The store decoders are fuzzed when those stores are in the tree.
WITH_REDIS=OFF
WITH_K8S=OFF
DEFAULT_TARGETS="publishmetadata listsources getmetadata updatestatus token_file"
if [ -f "$REPO/src/store/redis/CMakeLists.txt" ]; then
  WITH_REDIS=ON
  DEFAULT_TARGETS="$DEFAULT_TARGETS redis_codec"
fi
if [ -f "$REPO/src/store/kubernetes/CMakeLists.txt" ]; then
  WITH_K8S=ON
  DEFAULT_TARGETS="$DEFAULT_TARGETS k8s_objects k8s_watch_event"
fi
TARGETS=${MX_FUZZ_TARGETS:-$DEFAULT_TARGETS}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

GENERATOR=
command -v ninja >/dev/null 2>&1 && GENERATOR="-G Ninja"
# Every library gets coverage instrumentation (fuzzer-no-link), so libFuzzer
# sees inside the code under test, not only the entry point.
# Line tables only (not full debug info): stack traces keep file and line,
# and the sanitized build takes far less time than -O2 -g. MX_FUZZ_OPT=-O0
# halves the sanitized compile again (measured per file with clang 14) at
# the cost of slower executions: right for CI's 10-second runs on two cores,
# not for a long campaign.
OPT=${MX_FUZZ_OPT:--O1}
CC=$CC CXX=$CXX cmake -S "$REPO" -B "$OUT" $GENERATOR -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$OPT -gline-tables-only -DNDEBUG" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$OPT -gline-tables-only -DNDEBUG" \
  -DMX_BUILD_FUZZERS=ON -DMX_BUILD_TESTS=OFF -DMX_BUILD_BENCHMARKS=OFF \
  -DMX_WITH_REDIS=$WITH_REDIS -DMX_WITH_KUBERNETES=$WITH_K8S \
  -DCMAKE_C_FLAGS="$SAN -fsanitize=fuzzer-no-link" \
  -DCMAKE_CXX_FLAGS="$SAN -fsanitize=fuzzer-no-link" \
  -DCMAKE_EXE_LINKER_FLAGS="$SAN" >/dev/null
for t in $TARGETS; do
  cmake --build "$OUT" -j "$JOBS" --target "fuzz_$t"
done

status=0
for t in $TARGETS; do
  corpus="$OUT/corpus/$t"
  artifacts="$OUT/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp -n "$REPO/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  echo "== fuzz_$t for ${SECONDS_PER_TARGET}s"
  # -rss_limit_mb bounds memory on small CI machines; max_len covers real requests.
  bin="$OUT/bin/fuzz_$t"
  [ -x "$bin" ] || bin="$OUT/tests/fuzz/fuzz_$t"
  if ! "$bin" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" "$REPO/tests/fuzz/regressions/$t"; then
    echo "fuzz_$t FAILED: see $artifacts" >&2
    status=1
  fi
done
exit $status
