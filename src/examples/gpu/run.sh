#!/bin/bash
# Runs the GPU example on a machine with two GPUs, from a folder made by
# package.sh: mxd on loopback, a seed on GPU 0, a target on GPU 1 (twice),
# then the peer-to-peer floor. Logs go to $OUT (default /tmp/mx-gpu-out).
#   OUT=/tmp/out SCALE=1 EXPERTS=4 .gpu/run.sh
set -u
dir=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/mx-gpu-out}
scale=${SCALE:-1}
experts=${EXPERTS:-4}
port=${PORT:-18001}
mkdir -p "$out"
# Multicast stays off on shared hosts (the examples do not use it anyway).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
mx() { LD_LIBRARY_PATH="$dir/lib" "$@"; }
# Waits up to $2 s for the text $3 in file $1.
wait_for() { for _ in $(seq 1 $(($2 * 10))); do grep -q "$3" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

nvidia-smi topo -m > "$out/topo.txt" 2>&1
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv >> "$out/topo.txt" 2>&1
shard=(--scale "$scale" --experts-per-rank "$experts")
mx "$dir/mxd" --listen "127.0.0.1:$port" > "$out/mxd.log" 2>&1 &
mxd=$!
wait_for "$out/mxd.log" 30 "serving model_express.p2p.P2pService" || { echo "mxd did not start"; cat "$out/mxd.log"; exit 1; }
mx "$dir/mx_gpu_seed" --server "127.0.0.1:$port" --mode cuda --device 0 "${shard[@]}" > "$out/seed.log" 2>&1 &
seed=$!
if ! wait_for "$out/seed.log" 300 "^published "; then echo "seed did not publish"; cat "$out/seed.log"; kill $seed $mxd; exit 1; fi
cat "$out/seed.log"
for i in 1 2; do
  echo "== target run $i" | tee -a "$out/target.log"
  mx "$dir/mx_gpu_target" --server "127.0.0.1:$port" --mode cuda --device 1 --streams "${STREAMS:-4}" \
     --repeat 3 --worker-id "gpu-target-$i" "${shard[@]}" 2>&1 | tee -a "$out/target.log"
done
kill -TERM $seed; wait $seed
echo "== floor" | tee -a "$out/floor.log"
mx "$dir/mx_gpu_floor" --src-device 0 --dst-device 1 --streams "${STREAMS:-4}" --repeat 5 "${shard[@]}" 2>&1 | tee -a "$out/floor.log"
kill -TERM $mxd; wait $mxd
grep -h "^RESULT\|^FLOOR" "$out/target.log" "$out/floor.log" | tee "$out/summary.txt"
