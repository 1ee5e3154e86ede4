// The floor a GPU target is measured against: in one process, with peer
// access enabled both ways, copies the same shard from one GPU to the other
// over the same number of streams: as the target's coalesced plan (first,
// so its first repetition starts from idle GPUs as the target's copy does),
// as one bulk copy split evenly over the streams (with
// cuMemcpyDtoDAsync, and the bulk once more with cuMemcpyPeerAsync), and
// tensor by tensor; then the coalesced plan and the bulk copy once more
// from a source buffer made with cuMemCreate (VMM, recommended granularity, access
// granted to both devices) as the seed's cuda-vmm buffer is. Prints every
// repetition's time and GB/s. --vmm false leaves the VMM buffer out.
//   mx_gpu_floor --src-device 0 --dst-device 1 [--scale 1] [--streams 4] [--repeat 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

#include "gpu/copy_plan.h"
#include "gpu/cuda_vmm.h"
#include "gpu/gpu_flags.h"
#include "gpu/shard_memory.h"

namespace mx::examples {
namespace {

using cuda::CUcontext;
using cuda::CUdeviceptr;
using cuda::CUstream;

int Fail(const absl::Status& status) {
  std::cerr << "mx_gpu_floor: " << status << std::endl;
  return 1;
}

struct Device {
  cuda::CUdevice device = 0;
  CUcontext ctx = nullptr;
  CUdeviceptr buffer = 0;
};

int Run(const FlagMap& flags) {
  auto shard_options = ShardFlags(flags);
  auto src_ordinal = IntFlag(flags, "src-device", 0, 0, 1023);
  auto dst_ordinal = IntFlag(flags, "dst-device", 1, 0, 1023);
  auto lanes = IntFlag(flags, "streams", 4, 1, 64);
  auto repeats = IntFlag(flags, "repeat", 5, 1, 100);
  for (const auto* s : {&shard_options.status(), &src_ordinal.status(), &dst_ordinal.status(),
                        &lanes.status(), &repeats.status()}) {
    if (!s->ok()) return Fail(*s);
  }
  auto loaded = cuda::Driver::Load();
  if (!loaded.ok()) return Fail(loaded.status());
  const auto& d = **loaded;
  const std::vector<TensorSpec> layout = DeepSeekV3Shard(*shard_options);
  const uint64_t bytes = ShardBytes(layout);

  Device src, dst;
  auto check = [&](int result, const char* what) { return d.Check(result, what); };
  for (auto [dev, ordinal] : {std::pair{&src, *src_ordinal}, std::pair{&dst, *dst_ordinal}}) {
    if (auto s = check(d.cuDeviceGet(&dev->device, ordinal), "cuDeviceGet"); !s.ok()) return Fail(s);
    if (auto s = check(d.cuDevicePrimaryCtxRetain(&dev->ctx, dev->device), "cuDevicePrimaryCtxRetain");
        !s.ok()) {
      return Fail(s);
    }
  }
  int can_access = 0;
  if (auto s = check(d.cuDeviceCanAccessPeer(&can_access, dst.device, src.device),
                     "cuDeviceCanAccessPeer");
      !s.ok()) {
    return Fail(s);
  }
  std::printf("peer access %d -> %d possible: %s\n", *dst_ordinal, *src_ordinal,
              can_access ? "yes" : "no");
  for (auto [from, to] : {std::pair{&src, &dst}, std::pair{&dst, &src}}) {
    d.cuCtxSetCurrent(from->ctx);
    if (auto s = check(d.cuMemAlloc(&from->buffer, bytes), "cuMemAlloc"); !s.ok()) {
      size_t free_bytes = 0, total_bytes = 0;
      d.cuMemGetInfo(&free_bytes, &total_bytes);
      std::printf("device memory: %zu bytes free of %zu\n", free_bytes, total_bytes);
      return Fail(s);
    }
  }
  for (auto [from, to] : {std::pair{&src, &dst}, std::pair{&dst, &src}}) {
    d.cuCtxSetCurrent(from->ctx);
    const int result = d.cuCtxEnablePeerAccess(to->ctx, 0);
    if (result != 0 && result != cuda::kErrorPeerAccessAlreadyEnabled) {
      return Fail(check(result, "cuCtxEnablePeerAccess"));
    }
  }
  d.cuCtxSetCurrent(src.ctx);
  for (const auto& t : layout) {
    if (auto s = check(d.cuMemsetD32(src.buffer + t.offset, PatternWord(t.name), t.size / 4),
                       "cuMemsetD32");
        !s.ok()) {
      return Fail(s);
    }
  }
  d.cuCtxSynchronize();
  // The same bytes in a VMM allocation on the source device, mapped for both.
  const std::string vmm_flag = Flag(flags, "vmm", "true");
  if (vmm_flag != "true" && vmm_flag != "false") {
    return Fail(absl::InvalidArgumentError("--vmm: true or false"));
  }
  VmmMapping vmm;
  if (vmm_flag == "true") {
    auto mapping = VmmAllocate(d, *src_ordinal, bytes, {*src_ordinal, *dst_ordinal});
    if (!mapping.ok()) return Fail(mapping.status());
    vmm = *mapping;
    for (const auto& t : layout) {
      if (auto s = check(d.cuMemsetD32(vmm.base + t.offset, PatternWord(t.name), t.size / 4),
                         "cuMemsetD32");
          !s.ok()) {
        return Fail(s);
      }
    }
    d.cuCtxSynchronize();
  }
  d.cuCtxSetCurrent(dst.ctx);
  std::vector<CUstream> streams(*lanes);
  for (auto& stream : streams) {
    if (auto s = check(d.cuStreamCreate(&stream, cuda::kStreamNonBlocking), "cuStreamCreate");
        !s.ok()) {
      return Fail(s);
    }
  }

  std::vector<CopyRange> per_tensor;
  for (const auto& t : layout) per_tensor.push_back({t.name, t.offset, t.offset, t.size, 0});
  std::vector<CopyRange> bulk;
  const uint64_t piece = (bytes / *lanes + 255) / 256 * 256;
  for (uint64_t off = 0; off < bytes; off += piece) {
    bulk.push_back({"bulk", off, off, std::min(piece, bytes - off), 0});
  }
  // The target's coalesced plan (same gap and run length as mx_gpu_target).
  const uint64_t max_run = (bytes / (4 * *lanes) + (1 << 20) - 1) / (1 << 20) * (1 << 20);
  const std::vector<CopyRange> coalesced = CoalesceRanges(per_tensor, 4096, max_run);
  // Copies `ranges` once (cuMemcpyDtoDAsync, as the target does, or
  // cuMemcpyPeerAsync); milliseconds, or -1 on a CUDA error (printed).
  auto timed_copy = [&](const std::vector<CopyRange>& ranges, bool peer_api,
                        CUdeviceptr source) -> double {
    const std::vector<int> lane_of = AssignLanes(ranges, *lanes);
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ranges.size(); ++i) {
      const auto& r = ranges[i];
      auto s = check(peer_api ? d.cuMemcpyPeerAsync(dst.buffer + r.dst_offset, dst.ctx,
                                                    source + r.src_offset, src.ctx, r.size,
                                                    streams[lane_of[i]])
                              : d.cuMemcpyDtoDAsync(dst.buffer + r.dst_offset,
                                                    source + r.src_offset, r.size,
                                                    streams[lane_of[i]]),
                     "copy");
      if (!s.ok()) {
        Fail(s);
        return -1.0;
      }
    }
    for (CUstream stream : streams) {
      if (auto s = check(d.cuStreamSynchronize(stream), "cuStreamSynchronize"); !s.ok()) {
        Fail(s);
        return -1.0;
      }
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  std::printf("floor: %zu tensors, %llu bytes (%.2f GB), device %d -> %d, %d streams\n",
              layout.size(), static_cast<unsigned long long>(bytes), Gb(bytes), *src_ordinal,
              *dst_ordinal, *lanes);
  struct Mode {
    const char* label;
    const std::vector<CopyRange>* ranges;
    bool peer_api;
    CUdeviceptr source;
  };
  std::vector<Mode> modes = {Mode{"coalesced", &coalesced, false, src.buffer},
                             Mode{"bulk", &bulk, false, src.buffer},
                             Mode{"bulk-peer", &bulk, true, src.buffer},
                             Mode{"per-tensor", &per_tensor, false, src.buffer}};
  if (vmm.base != 0) {
    modes.push_back(Mode{"coalesced-vmm", &coalesced, false, vmm.base});
    modes.push_back(Mode{"bulk-vmm", &bulk, false, vmm.base});
  }
  for (const Mode& mode : modes) {
    const char* label = mode.label;
    std::vector<double> times;
    for (int i = 0; i < *repeats; ++i) {
      const double ms = timed_copy(*mode.ranges, mode.peer_api, mode.source);
      if (ms < 0) return 1;
      times.push_back(ms);
      std::printf("  %-13s #%d %10.2f ms  %.1f GB/s\n", label, i + 1, ms, Gb(bytes) / (ms / 1000));
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    std::printf("FLOOR mode=%s bytes=%llu first_ms=%.3f first_gbps=%.1f best_ms=%.3f best_gbps=%.1f "
                "median_gbps=%.1f\n",
                label, static_cast<unsigned long long>(bytes), times[0], Gb(bytes) / (times[0] / 1000),
                sorted[0], Gb(bytes) / (sorted[0] / 1000),
                Gb(bytes) / (sorted[sorted.size() / 2] / 1000));
  }
  // Spot check: the first word of every tensor arrived.
  for (const auto& t : layout) {
    uint32_t word = 0;
    d.cuMemcpyDtoH(&word, dst.buffer + t.offset, 4);
    if (word != PatternWord(t.name)) return Fail(absl::DataLossError("floor copy lost " + t.name));
  }
  for (CUstream stream : streams) d.cuStreamDestroy(stream);
  VmmRelease(d, vmm);
  d.cuMemFree(dst.buffer);
  d.cuCtxSetCurrent(src.ctx);
  d.cuMemFree(src.buffer);
  d.cuDevicePrimaryCtxRelease(src.device);
  d.cuDevicePrimaryCtxRelease(dst.device);
  return 0;
}

}  // namespace
}  // namespace mx::examples

int main(int argc, char** argv) { return mx::examples::Run(mx::examples::ParseFlags(argc, argv)); }
