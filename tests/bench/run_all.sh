#!/usr/bin/env bash
# Runs every issue-7 scenario against mx_null_server (the gRPC floor) and
# against mxd (memory store), one fresh server per scenario, server pinned to
# one core and load generator to another, and writes a markdown table. The
# publish scenario also runs against `mx_null_server --parse-publish` (the
# parse floor, issue 16), reported in a table of its own.
# Builds nothing: pass a build dir that has mxd, mx_null_server, mx_loadgen.
#
#   tests/bench/run_all.sh BUILD_DIR [OUT.md]
#
# Environment: BENCH_SECONDS (3), BENCH_CONCURRENCY (16), BENCH_SCENARIOS
# (all), SERVER_CPU (0), CLIENT_CPU (1), MXD_ARGS (extra mxd flags), MXD_BIN
# (another mxd binary, e.g. an older build to compare against).
set -euo pipefail

build=${1:?usage: run_all.sh BUILD_DIR [OUT.md]}
out=${2:-/dev/stdout}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bin  # CMAKE_RUNTIME_OUTPUT_DIRECTORY
mxd=${MXD_BIN:-$bin/mxd}
null=$bin/mx_null_server
loadgen=$bin/mx_loadgen
for bin in "$mxd" "$null" "$loadgen"; do
  [[ -x $bin ]] || { echo "run_all.sh: $bin is missing; build it first" >&2; exit 2; }
done
seconds=${BENCH_SECONDS:-3}
concurrency=${BENCH_CONCURRENCY:-16}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
scenarios=${BENCH_SCENARIOS:-$( ("$loadgen" 2>&1 || true) | sed -n 's/^scenarios: *//p')}
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
  elif [[ $kind == nullparse ]]; then
    taskset -c "$server_cpu" "$null" --listen=127.0.0.1:0 --parse-publish 2>"$log" &
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

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for scenario in $scenarios; do
  kinds="null mxd"
  [[ $scenario == publish ]] && kinds="null nullparse mxd"
  for kind in $kinds; do
    start_server "$kind" "$work/$kind.$scenario.log"
    echo "== $scenario on $kind (pid $server_pid, port $port)" >&2
    taskset -c "$client_cpu" "$loadgen" --target="127.0.0.1:$port" --scenario="$scenario" \
      --server-pid="$server_pid" --seconds="$seconds" --concurrency="$concurrency" \
      | tee -a "$work/$kind.results" >&2 || true
    stop_server
  done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
machine="$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$here" diff --quiet HEAD 2>/dev/null; then commit="$commit (+ uncommitted changes)"; fi
python3 "$here/make_table.py" --null="$work/null.results" --mxd="$work/mxd.results" \
  --machine="$machine" --commit="$commit" --date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --seconds="$seconds" --concurrency="$concurrency" \
  --load="load average before: $load_before; after: $load_after" \
  --parse-floor="$work/nullparse.results" >"$out"
