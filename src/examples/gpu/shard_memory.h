// Where a shard lives. The seed side owns a buffer holding every tensor and
// exports it; the target side maps that buffer, copies tensors into its own
// buffer and verifies them. Two implementations of each: CUDA device memory
// shared by CUDA VMM or IPC (cuda_shard.cc) and POSIX shared memory (host_shard.cc),
// which runs anywhere and is what CI exercises.
// None of these classes is thread-safe; use each from one thread.
#ifndef MX_EXAMPLES_GPU_SHARD_MEMORY_H_
#define MX_EXAMPLES_GPU_SHARD_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gpu/cuda_driver.h"
#include "gpu/handle_blob.h"
#include "gpu/shard_layout.h"

namespace mx::examples {

class SeedShard {
 public:
  virtual ~SeedShard() = default;
  // Address of the buffer in this process: published tensor addrs are base()+offset.
  virtual uint64_t base() const = 0;
  // Every 4 bytes of each tensor := PatternWord(name). OK once all are written.
  virtual absl::Status Fill(const std::vector<TensorSpec>& tensors) = 0;
  // Overwrites the last word of `tensor` with a wrong value (for tests).
  virtual absl::Status Corrupt(const TensorSpec& tensor) = 0;
  // What a target needs to map the buffer.
  virtual ShardHandle Handle() const = 0;
};

// One tensor to move: from the seed's buffer at src_offset to the target's at dst_offset.
struct CopyRange {
  std::string name;
  uint64_t src_offset = 0;
  uint64_t dst_offset = 0;
  uint64_t size = 0;  // multiple of 4
  uint32_t pattern = 0;
};

class TargetShard {
 public:
  virtual ~TargetShard() = default;
  // Maps the seed's buffer. InvalidArgument when `handle` is of the other
  // kind or smaller than the target's buffer; the backend's error otherwise.
  virtual absl::Status Open(const ShardHandle& handle) = 0;
  // After Open(): how the mapping was obtained, where there is a choice
  // (cuda-vmm: which way the fd came); empty otherwise.
  virtual std::string opened_how() const { return ""; }
  // Copies every range, spread over the parallel lanes (streams or threads)
  // by bytes; returns once all bytes have landed. Requires Open().
  virtual absl::Status Copy(const std::vector<CopyRange>& ranges) = 0;
  // OK when every word of every range in the target's buffer equals its
  // pattern; DataLoss naming the first tensor and word that does not.
  virtual absl::Status Verify(const std::vector<CopyRange>& ranges) = 0;
};

absl::StatusOr<std::unique_ptr<SeedShard>> CreateHostSeedShard(uint64_t bytes);
// `lanes` threads copy in parallel.
absl::StatusOr<std::unique_ptr<TargetShard>> CreateHostTargetShard(uint64_t bytes, int lanes);

// vmm=true: cuMemCreate, exported as a POSIX fd (kind cuda-vmm); false:
// cuMemAlloc, exported with cuIpcGetMemHandle (kind cuda-ipc).
absl::StatusOr<std::unique_ptr<SeedShard>> CreateCudaSeedShard(
    std::shared_ptr<const cuda::Driver> driver, int device, uint64_t bytes, bool vmm);
// Allocates `bytes` on `device`; `lanes` non-blocking streams copy in parallel.
// push=false: this device's copy engines read the seed's buffer over peer
// access (the IPC mapping lives in this device's context). push=true: Open()
// also maps the buffer in a context on the seed's device and that device's
// engines write into this device's buffer.
absl::StatusOr<std::unique_ptr<TargetShard>> CreateCudaTargetShard(
    std::shared_ptr<const cuda::Driver> driver, int device, uint64_t bytes, int lanes, bool push);

// Assigns each range to one of `lanes` lanes, largest first to the least
// loaded lane; returns the lane index of each range (in input order).
std::vector<int> AssignLanes(const std::vector<CopyRange>& ranges, int lanes);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_SHARD_MEMORY_H_
