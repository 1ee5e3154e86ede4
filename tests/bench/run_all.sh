#!/usr/bin/env bash
# Runs the benchmarks of issues 7 and 16 and writes markdown tables to OUT.md.
# Builds nothing: pass a build dir whose bin/ has the programs (a directory
# of carried binaries works too: BUILD_DIR/bin/mxd, ...).
#
#   tests/bench/run_all.sh BUILD_DIR [OUT.md]                        # loadgen only (~80 s)
#   BENCH_SUITES=all tests/bench/run_all.sh BUILD_DIR OUT.md          # all of issue 16 (~10 min)
#   BENCH_SUITES="redis fleet" tests/bench/run_all.sh BUILD_DIR OUT.md
#
# Suites (BENCH_SUITES, space-separated; default "loadgen"; "all" = every one):
#   loadgen  issue 7 scenarios and issue 16 items 1 and 3 (Publish against the
#            parse floor, unfiltered ListSources): every scenario against
#            mx_null_server and against mxd (memory store), one fresh server
#            per scenario, server pinned to SERVER_CPU, mx_loadgen to CLIENT_CPU.
#   redis    issue 16 item 2: bin/redis_bench (Redis store and mxd on Redis:
#            GetMetadata, ListSources with 10 and 10,000 stored); starts its
#            own redis-server.
#   fleet    issue 16 item 5: bin/mx_fleet_bench, open loop: 100,000 workers
#            heart-beating, 100 filtered ListSources/s, 5 publishes/s of
#            3,000-tensor workers; memory store, Redis, two replicas on Redis;
#            then the knee. mxd on SERVER_CPU, load and Redis on CLIENT_CPU.
#
# Environment: BENCH_SECONDS (3), BENCH_CONCURRENCY (16), BENCH_SCENARIOS
# (all), SERVER_CPU (0), CLIENT_CPU (1), MXD_ARGS (extra mxd flags, loadgen
# suite), MXD_BIN (another mxd binary, e.g. an older build to compare
# against; the redis and fleet suites need it to be named mxd),
# MX_REDIS_SERVER (redis-server binary), FLEET_ARGS (extra mx_fleet_bench
# flags, e.g. "--seconds=30 --knee=none"), REDIS_BENCH_ARGS (e.g. --quick).
set -euo pipefail

build=${1:?usage: run_all.sh BUILD_DIR [OUT.md]}
out=${2:-/dev/stdout}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bin  # CMAKE_RUNTIME_OUTPUT_DIRECTORY
mxd=${MXD_BIN:-$bin/mxd}
null=$bin/mx_null_server
loadgen=$bin/mx_loadgen
redis_bench=$bin/redis_bench
fleet_bench=$bin/mx_fleet_bench
suites=${BENCH_SUITES:-loadgen}
[[ $suites == all ]] && suites="loadgen redis fleet"
has_suite() { [[ " $suites " == *" $1 "* ]]; }
needed=("$mxd")
has_suite loadgen && needed+=("$null" "$loadgen")
has_suite redis && needed+=("$redis_bench")
has_suite fleet && needed+=("$fleet_bench")
for bin in "${needed[@]}"; do
  [[ -x $bin ]] || { echo "run_all.sh: $bin is missing; build it first" >&2; exit 2; }
done
# redis_bench and mx_fleet_bench start the mxd of this directory.
export MX_TEST_BINARY_DIR=${MX_TEST_BINARY_DIR:-$(cd "$(dirname "$mxd")" && pwd)}
seconds=${BENCH_SECONDS:-3}
concurrency=${BENCH_CONCURRENCY:-16}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
scenarios=
if has_suite loadgen; then
  scenarios=${BENCH_SCENARIOS:-$( ("$loadgen" 2>&1 || true) | sed -n 's/^scenarios: *//p')}
fi
work=$(mktemp -d "$build/bench-run.XXXXXX")  # not /tmp: other jobs clean it
server_pid=

stop_server() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# start_server KIND LOG: starts it on a free port; sets server_pid, port.
start_server() {
  local kind=$1 log=$2
  : >"$log"  # exists before the background job opens it (sed below races otherwise)
  if [[ $kind == null ]]; then
    taskset -c "$server_cpu" "$null" --listen=127.0.0.1:0 2>"$log" &
  else
    # shellcheck disable=SC2086
    taskset -c "$server_cpu" "$mxd" --listen=127.0.0.1:0 --reflection=false ${MXD_ARGS:-} \
      2>"$log" &
  fi
  server_pid=$!
  port=
  for _ in $(seq 1 200); do  # up to 20 s for the port line
    port=$(sed -n 's/.*serving.* on port \([0-9]*\).*/\1/p' "$log" | head -1 || true)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run_all.sh: $kind did not start; log:" >&2
  cat "$log" >&2
  exit 1
}

machine="$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$here" diff --quiet HEAD 2>/dev/null; then commit="$commit (+ uncommitted changes)"; fi
: >"$out" 2>/dev/null || true

# ---- suite loadgen: issue 7, issue 16 items 1 and 3 ----------------------
# Server kinds per scenario: null (the gRPC floor) and mxd; a further null
# kind (e.g. the parse-only floor) is one more word here and in start_server.
if has_suite loadgen; then
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for scenario in $scenarios; do
  for kind in null mxd; do
    start_server "$kind" "$work/$kind.$scenario.log"
    echo "== $scenario on $kind (pid $server_pid, port $port)" >&2
    taskset -c "$client_cpu" "$loadgen" --target="127.0.0.1:$port" --scenario="$scenario" \
      --server-pid="$server_pid" --seconds="$seconds" --concurrency="$concurrency" \
      | tee -a "$work/$kind.results" >&2 || true
    stop_server
  done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$here/make_table.py" --null="$work/null.results" --mxd="$work/mxd.results" \
  --machine="$machine" --commit="$commit" --date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --seconds="$seconds" --concurrency="$concurrency" \
  --load="load average before: $load_before; after: $load_after" >>"$out"
fi

# ---- suite redis: issue 16 item 2 ------------------------------------------
if has_suite redis; then
  echo "== redis_bench" >&2
  {
    echo
    echo "### Redis store (redis_bench ${REDIS_BENCH_ARGS:-}; $machine; commit $commit; load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    # shellcheck disable=SC2086
    "$redis_bench" ${REDIS_BENCH_ARGS:-}
  } >>"$out"
fi

# ---- suite fleet: issue 16 item 5 ------------------------------------------
if has_suite fleet; then
  echo "== mx_fleet_bench" >&2
  {
    echo
    echo "### Fleet scale, open loop (mx_fleet_bench ${FLEET_ARGS:-}; $machine; commit $commit; $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    # shellcheck disable=SC2086
    "$fleet_bench" --server-cpus="$server_cpu" --client-cpu="$client_cpu" ${FLEET_ARGS:-}
  } >>"$out"
fi
