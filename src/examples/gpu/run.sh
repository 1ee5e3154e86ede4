#!/bin/bash
# Runs the GPU example on a machine with two GPUs, from a folder made by
# package.sh. For each shard size: mxd on loopback; a seed on GPU 0 exporting
# a VMM allocation (cuda-vmm), targets on GPU 1 (copies pulled by GPU 1 or
# pushed by GPU 0, metadata re-fetched or taken from FindSource, coalesced or
# tensor by tensor, 4 or 8 streams, channel to mxd opened before or by the
# first timed call); the same with a seed exporting a legacy
# IPC handle (cuda-ipc, pull and push); then the peer-to-peer floor for 4 and
# 8 streams (cuMemAlloc and VMM source buffers).
# Logs go to $OUT (default /tmp/mx-gpu-out); summary.txt has every RESULT/FLOOR line.
#   OUT=/tmp/out EXPERTS_LIST="4 16" [KINDS="vmm ipc"] .gpu/run.sh
set -u
dir=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/mx-gpu-out}
port=${PORT:-18001}
mkdir -p "$out"
# Multicast stays off on shared hosts (the examples do not use it anyway).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# (background processes are started without the function, so $! is their pid)
mx() { LD_LIBRARY_PATH="$dir/lib" "$@"; }
# Waits up to $2 s for the text $3 in file $1.
wait_for() { for _ in $(seq 1 $(($2 * 10))); do grep -q "$3" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

{ nvidia-smi topo -m; nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv; nproc; } \
  > "$out/machine.txt" 2>&1
LD_LIBRARY_PATH="$dir/lib" "$dir/mxd" --listen "127.0.0.1:$port" > "$out/mxd.log" 2>&1 &
mxd=$!
wait_for "$out/mxd.log" 30 "serving model_express.p2p.P2pService" || { echo "mxd did not start"; cat "$out/mxd.log"; exit 1; }
for experts in ${EXPERTS_LIST:-4}; do
  shard=(--scale "${SCALE:-1}" --experts-per-rank "$experts")
  log="$out/experts$experts.log"
  echo "=== shard with $experts routed experts per MoE layer ($(date -u +%T))" | tee -a "$log"
  # One seed per handle kind (a buffer is either VMM-exported or IPC-exported).
  for kind in ${KINDS:-vmm ipc}; do
    LD_LIBRARY_PATH="$dir/lib" "$dir/mx_gpu_seed" --server "127.0.0.1:$port" --mode cuda --device 0 \
      --handle-kind "$kind" --model "deepseek-v3-synthetic/ep$experts-$kind" "${shard[@]}" > "$out/seed$experts-$kind.log" 2>&1 &
    seed=$!
    if ! wait_for "$out/seed$experts-$kind.log" 300 "^published "; then
      echo "seed ($kind) did not publish"; cat "$out/seed$experts-$kind.log"; kill $seed; continue
    fi
    cat "$out/seed$experts-$kind.log" | tee -a "$log"
    if [ "$kind" = vmm ]; then
      variants=("4 true true target true 20" "4 false true target true" "4 true true target false"
                "4 true true source true" "4 true false target true" "8 true true target true")
    else
      variants=("4 true true target true" "4 true true source true")
    fi
    for variant in "${variants[@]}"; do
      set -- $variant
      echo "== target ($kind): $1 streams, refetch=$2, coalesce=$3, copy engine of the $4 device, connect first=$5" | tee -a "$log"
      mx timeout 180 "$dir/mx_gpu_target" --server "127.0.0.1:$port" --mode cuda --device 1 --streams "$1" \
         --refetch "$2" --coalesce "$3" --copy-engine "$4" --connect-first "$5" --probe-rpcs "${6:-0}" --repeat 3 \
         --worker-id "gpu-target-$kind-$1-$2-$3-$4-$5" \
         --model "deepseek-v3-synthetic/ep$experts-$kind" "${shard[@]}" 2>&1 | tee -a "$log"
    done
    kill -TERM $seed; wait $seed
  done
  nvidia-smi --query-gpu=index,memory.used --format=csv | tee -a "$log"
  for streams in 4 8; do
    echo "== floor: $streams streams" | tee -a "$log"
    mx "$dir/mx_gpu_floor" --src-device 0 --dst-device 1 --streams "$streams" --repeat 5 "${shard[@]}" 2>&1 | tee -a "$log"
  done
done
kill -TERM $mxd; wait $mxd
echo "=== done ($(date -u +%T))" >> "$out/experts-end.log"
grep -h "^===\|^== \|^RESULT\|^FLOOR\|^PROBE\|^mapped with" "$out"/experts*.log | tee "$out/summary.txt"
