// CUDA shards: one allocation per shard on the seed, either cuMemCreate
// exported as a POSIX fd (cuda-vmm) or cuMemAlloc exported with one
// cuIpcGetMemHandle (cuda-ipc); the target maps it and copies with
// cuMemcpyDtoDAsync on a few non-blocking streams.
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "gpu/cuda_vmm.h"
#include "gpu/fd_passing.h"
#include "gpu/shard_memory.h"

namespace mx::examples {
namespace {

using cuda::CUcontext;
using cuda::CUdeviceptr;
using cuda::CUstream;
using cuda::Driver;

constexpr uint64_t kStagingBytes = 256ull << 20;

// The device's primary context, current on the calling thread while held.
class PrimaryContext {
 public:
  static absl::StatusOr<std::unique_ptr<PrimaryContext>> Retain(std::shared_ptr<const Driver> d,
                                                                int ordinal) {
    int count = 0;
    if (auto s = d->Check(d->cuDeviceGetCount(&count), "cuDeviceGetCount"); !s.ok()) return s;
    if (ordinal < 0 || ordinal >= count) {
      return absl::InvalidArgumentError(
          absl::StrCat("CUDA device ", ordinal, " does not exist (", count, " visible)"));
    }
    cuda::CUdevice device = 0;
    if (auto s = d->Check(d->cuDeviceGet(&device, ordinal), "cuDeviceGet"); !s.ok()) return s;
    CUcontext ctx = nullptr;
    if (auto s = d->Check(d->cuDevicePrimaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain");
        !s.ok()) {
      return s;
    }
    auto held = std::unique_ptr<PrimaryContext>(new PrimaryContext(d, device, ctx));
    if (auto s = d->Check(d->cuCtxSetCurrent(ctx), "cuCtxSetCurrent"); !s.ok()) return s;
    return held;
  }
  ~PrimaryContext() { driver_->cuDevicePrimaryCtxRelease(device_); }
  CUcontext get() const { return ctx_; }

 private:
  PrimaryContext(std::shared_ptr<const Driver> d, cuda::CUdevice device, CUcontext ctx)
      : driver_(std::move(d)), device_(device), ctx_(ctx) {}
  const std::shared_ptr<const Driver> driver_;
  const cuda::CUdevice device_;
  const CUcontext ctx_;
};

class CudaSeedShard : public SeedShard {
 public:
  // cuda-ipc: `base` from cuMemAlloc. cuda-vmm: `vmm` mapped at `base`, its
  // export `fd` served by `offer`.
  CudaSeedShard(std::shared_ptr<const Driver> d, std::unique_ptr<PrimaryContext> ctx, int device,
                CUdeviceptr base, uint64_t bytes, VmmMapping vmm = {}, int fd = -1,
                std::string socket = "", std::unique_ptr<FdOffer> offer = nullptr)
      : d_(std::move(d)), ctx_(std::move(ctx)), device_(device), base_(base), bytes_(bytes),
        vmm_(vmm), fd_(fd), socket_(std::move(socket)), offer_(std::move(offer)) {}
  ~CudaSeedShard() override {
    offer_.reset();
    if (fd_ >= 0) close(fd_);
    if (vmm_.handle != 0) {
      VmmRelease(*d_, vmm_);
    } else {
      d_->cuMemFree(base_);
    }
  }
  uint64_t base() const override { return base_; }
  absl::Status Fill(const std::vector<TensorSpec>& tensors) override {
    for (const auto& t : tensors) {
      if (t.offset + t.size > bytes_) return absl::InvalidArgumentError("tensor outside the shard");
      if (auto s = d_->Check(d_->cuMemsetD32(base_ + t.offset, PatternWord(t.name), t.size / 4),
                             "cuMemsetD32");
          !s.ok()) {
        return s;
      }
    }
    return d_->Check(d_->cuCtxSynchronize(), "cuCtxSynchronize");
  }
  absl::Status Corrupt(const TensorSpec& t) override {
    if (auto s = d_->Check(d_->cuMemsetD32(base_ + t.offset + t.size - 4, ~PatternWord(t.name), 1),
                           "cuMemsetD32");
        !s.ok()) {
      return s;
    }
    return d_->Check(d_->cuCtxSynchronize(), "cuCtxSynchronize");
  }
  ShardHandle Handle() const override {
    ShardHandle handle;
    handle.device = device_;
    handle.base = base_;
    handle.bytes = bytes_;
    if (vmm_.handle != 0) {
      handle.kind = ShardHandle::Kind::kCudaVmm;
      handle.alloc_bytes = vmm_.bytes;
      handle.pid = static_cast<int>(getpid());
      handle.fd = fd_;
      handle.socket = socket_;
      return handle;
    }
    handle.kind = ShardHandle::Kind::kCudaIpc;
    cuda::CUipcMemHandle ipc{};
    if (d_->cuIpcGetMemHandle(&ipc, base_) == 0) handle.ipc_handle.assign(ipc.reserved, 64);
    return handle;
  }

 private:
  const std::shared_ptr<const Driver> d_;
  const std::unique_ptr<PrimaryContext> ctx_;
  const int device_;
  const CUdeviceptr base_;
  const uint64_t bytes_;
  VmmMapping vmm_;
  const int fd_;
  const std::string socket_;
  std::unique_ptr<FdOffer> offer_;
};

class CudaTargetShard : public TargetShard {
 public:
  CudaTargetShard(std::shared_ptr<const Driver> d, std::unique_ptr<PrimaryContext> ctx, int device,
                  CUdeviceptr own, uint64_t bytes, std::vector<CUstream> streams, bool push)
      : d_(std::move(d)), ctx_(std::move(ctx)), device_(device), own_(own), bytes_(bytes),
        streams_(std::move(streams)), push_(push) {}
  ~CudaTargetShard() override {
    if (vmm_.handle != 0) {
      VmmRelease(*d_, vmm_);
    } else if (remote_ != 0) {
      if (source_ctx_ != nullptr) d_->cuCtxSetCurrent(source_ctx_->get());
      d_->cuIpcCloseMemHandle(remote_);
    }
    for (CUstream s : source_streams_) d_->cuStreamDestroy(s);
    source_ctx_.reset();
    d_->cuCtxSetCurrent(ctx_->get());
    for (CUstream s : streams_) d_->cuStreamDestroy(s);
    d_->cuMemFree(own_);
  }
  absl::Status Open(const ShardHandle& handle) override {
    const bool vmm = handle.kind == ShardHandle::Kind::kCudaVmm;
    if (!vmm && (handle.kind != ShardHandle::Kind::kCudaIpc || handle.ipc_handle.size() != 64)) {
      return absl::InvalidArgumentError(
          "the seed's shard is not cuda-ipc or cuda-vmm (run both in one mode)");
    }
    if (handle.bytes < bytes_) return absl::InvalidArgumentError("the seed's shard is too small");
    if (push_) {
      // Push: map the seed's buffer in a context on the seed's own device
      // (local memory there) and let that device's copy engines write into
      // this device's buffer over peer access.
      auto source = PrimaryContext::Retain(d_, handle.device);
      if (!source.ok()) return source.status();
      source_ctx_ = std::move(*source);
      const int enabled = d_->cuCtxEnablePeerAccess(ctx_->get(), 0);
      if (enabled != 0 && enabled != cuda::kErrorPeerAccessAlreadyEnabled) {
        return d_->Check(enabled, "cuCtxEnablePeerAccess");
      }
      source_streams_.assign(streams_.size(), nullptr);
      for (auto& stream : source_streams_) {
        if (auto s = d_->Check(d_->cuStreamCreate(&stream, cuda::kStreamNonBlocking), "cuStreamCreate");
            !s.ok()) {
          return s;
        }
      }
    }
    if (vmm) {
      if (auto s = OpenVmm(handle); !s.ok()) return s;
    } else {
      cuda::CUipcMemHandle ipc{};
      std::memcpy(ipc.reserved, handle.ipc_handle.data(), 64);
      if (auto s = d_->Check(d_->cuIpcOpenMemHandle(&remote_, ipc, cuda::kIpcMemLazyEnablePeerAccess),
                             "cuIpcOpenMemHandle");
          !s.ok()) {
        return s;
      }
    }
    remote_bytes_ = handle.bytes;
    d_->cuCtxSetCurrent(ctx_->get());
    return absl::OkStatus();
  }
  std::string opened_how() const override { return opened_how_; }
  absl::Status Copy(const std::vector<CopyRange>& ranges) override {
    if (remote_ == 0) return absl::FailedPreconditionError("Open() first");
    for (const auto& r : ranges) {
      if (r.src_offset + r.size > remote_bytes_ || r.dst_offset + r.size > bytes_) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", r.name, " outside the buffers"));
      }
    }
    const std::vector<CUstream>& streams = push_ ? source_streams_ : streams_;
    if (push_) d_->cuCtxSetCurrent(source_ctx_->get());
    const std::vector<int> lane_of = AssignLanes(ranges, static_cast<int>(streams.size()));
    absl::Status result;
    for (size_t i = 0; i < ranges.size() && result.ok(); ++i) {
      const auto& r = ranges[i];
      result = d_->Check(d_->cuMemcpyDtoDAsync(own_ + r.dst_offset, remote_ + r.src_offset, r.size,
                                               streams[lane_of[i]]),
                         "cuMemcpyDtoDAsync " + r.name);
    }
    for (CUstream s : streams) {
      auto synced = d_->Check(d_->cuStreamSynchronize(s), "cuStreamSynchronize");
      if (result.ok()) result = synced;
    }
    d_->cuCtxSetCurrent(ctx_->get());
    return result;
  }
  absl::Status Verify(const std::vector<CopyRange>& ranges) override {
    void* staging = nullptr;
    if (auto s = d_->Check(d_->cuMemAllocHost(&staging, kStagingBytes), "cuMemAllocHost"); !s.ok()) {
      return s;
    }
    absl::Status result;
    for (const auto& r : ranges) {
      if (r.dst_offset + r.size > bytes_) {
        result = absl::InvalidArgumentError("range outside the buffer");
        break;
      }
      for (uint64_t done = 0; done < r.size && result.ok(); done += kStagingBytes) {
        const uint64_t chunk = std::min(kStagingBytes, r.size - done);
        result = d_->Check(d_->cuMemcpyDtoH(staging, own_ + r.dst_offset + done, chunk), "cuMemcpyDtoH");
        const auto* words = static_cast<const uint32_t*>(staging);
        for (uint64_t w = 0; result.ok() && w < chunk / 4; ++w) {
          if (words[w] != r.pattern) {
            result = absl::DataLossError(absl::StrCat("tensor ", r.name, " word ", done / 4 + w,
                                                      " is 0x", absl::Hex(words[w]), ", expected 0x",
                                                      absl::Hex(r.pattern)));
          }
        }
      }
      if (!result.ok()) break;
    }
    d_->cuMemFreeHost(staging);
    return result;
  }

 private:
  // Gets the seed's fd (pidfd_getfd, else its socket), imports it and maps
  // it readable by this device (pull) or by the seed's device too (push).
  absl::Status OpenVmm(const ShardHandle& handle) {
    auto fd = TakeFd(handle.pid, handle.fd);
    opened_how_ = "fd by pidfd_getfd";
    if (!fd.ok()) {
      auto received = ReceiveFd(handle.socket, 10000);
      if (!received.ok()) {
        return absl::UnavailableError(absl::StrCat("cannot get the seed's fd: ", fd.status().message(),
                                                   "; ", received.status().message()));
      }
      opened_how_ = absl::StrCat("fd by ", handle.socket, " (", fd.status().message(), ")");
      fd = received;
    }
    std::vector<int> access = {device_};
    if (push_ && handle.device != device_) access.push_back(handle.device);
    auto mapping = VmmImport(*d_, *fd, handle.alloc_bytes, access);
    close(*fd);
    if (!mapping.ok()) return mapping.status();
    vmm_ = *mapping;
    remote_ = vmm_.base;
    return absl::OkStatus();
  }

  const std::shared_ptr<const Driver> d_;
  const std::unique_ptr<PrimaryContext> ctx_;
  const int device_;
  const CUdeviceptr own_;
  const uint64_t bytes_;
  const std::vector<CUstream> streams_;
  const bool push_;
  std::unique_ptr<PrimaryContext> source_ctx_;  // push: the seed's device
  std::vector<CUstream> source_streams_;        // push: streams on the seed's device
  CUdeviceptr remote_ = 0;
  uint64_t remote_bytes_ = 0;
  VmmMapping vmm_;          // cuda-vmm: the imported mapping (remote_ == vmm_.base)
  std::string opened_how_;  // cuda-vmm: how the fd came
};

}  // namespace

absl::StatusOr<std::unique_ptr<SeedShard>> CreateCudaSeedShard(std::shared_ptr<const Driver> d,
                                                               int device, uint64_t bytes,
                                                               bool vmm) {
  auto ctx = PrimaryContext::Retain(d, device);
  if (!ctx.ok()) return ctx.status();
  if (vmm) {
    auto mapping = VmmAllocate(*d, device, bytes, {device});
    if (!mapping.ok()) return mapping.status();
    auto fd = VmmExport(*d, *mapping);
    if (!fd.ok()) {
      VmmRelease(*d, *mapping);
      return fd.status();
    }
    const std::string socket = absl::StrCat("@mx-gpu-seed-", getpid());
    auto offer = FdOffer::Start(socket, *fd);
    if (!offer.ok()) {
      close(*fd);
      VmmRelease(*d, *mapping);
      return offer.status();
    }
    return std::make_unique<CudaSeedShard>(d, std::move(*ctx), device, mapping->base, bytes,
                                           *mapping, *fd, socket, std::move(*offer));
  }
  CUdeviceptr base = 0;
  if (auto s = d->Check(d->cuMemAlloc(&base, bytes), absl::StrCat("cuMemAlloc(", bytes, ")"));
      !s.ok()) {
    return s;
  }
  auto shard = std::make_unique<CudaSeedShard>(d, std::move(*ctx), device, base, bytes);
  cuda::CUipcMemHandle probe{};
  if (auto s = d->Check(d->cuIpcGetMemHandle(&probe, base), "cuIpcGetMemHandle"); !s.ok()) return s;
  return shard;
}

absl::StatusOr<std::unique_ptr<TargetShard>> CreateCudaTargetShard(std::shared_ptr<const Driver> d,
                                                                   int device, uint64_t bytes,
                                                                   int lanes, bool push) {
  if (lanes < 1) return absl::InvalidArgumentError("no streams");
  auto ctx = PrimaryContext::Retain(d, device);
  if (!ctx.ok()) return ctx.status();
  CUdeviceptr own = 0;
  if (auto s = d->Check(d->cuMemAlloc(&own, bytes), absl::StrCat("cuMemAlloc(", bytes, ")"));
      !s.ok()) {
    return s;
  }
  std::vector<CUstream> streams(lanes, nullptr);
  for (auto& stream : streams) {
    if (auto s = d->Check(d->cuStreamCreate(&stream, cuda::kStreamNonBlocking), "cuStreamCreate");
        !s.ok()) {
      for (CUstream made : streams) {
        if (made != nullptr) d->cuStreamDestroy(made);
      }
      d->cuMemFree(own);
      return s;
    }
  }
  return std::make_unique<CudaTargetShard>(d, std::move(*ctx), device, own, bytes,
                                           std::move(streams), push);
}

}  // namespace mx::examples
