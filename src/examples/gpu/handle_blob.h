// What a GPU-example seed puts in WorkerMetadata.nixl_metadata: how a target
// maps the seed's shard buffer. A small line-oriented text format:
//
//   mx-shard/1
//   kind=cuda-ipc            (or host-shm)
//   device=0                 (the seed's CUDA device ordinal; 0 for host-shm)
//   base=0x7f2a00000000      (address of the buffer in the seed; every tensor's
//   bytes=31457280000         addr lies in [base, base+bytes))
//   handle=<128 hex digits>  (cuda-ipc: the CUipcMemHandle of the buffer, lower case)
//   shm=/mx-gpu-seed-1234    (host-shm: the POSIX shared-memory name)
//
// One handle covers the whole shard: the seed makes one allocation and packs
// the tensors into it at offsets (a CUDA IPC handle always refers to a whole
// allocation, so one handle and one cuIpcOpenMemHandle replace ~3,000).
#ifndef MX_EXAMPLES_GPU_HANDLE_BLOB_H_
#define MX_EXAMPLES_GPU_HANDLE_BLOB_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace mx::examples {

struct ShardHandle {
  enum class Kind { kCudaIpc, kHostShm };
  Kind kind = Kind::kHostShm;
  int device = 0;
  uint64_t base = 0;
  uint64_t bytes = 0;
  std::string ipc_handle;  // cuda-ipc: exactly 64 raw bytes
  std::string shm_name;    // host-shm: "/name", no other '/'
};

std::string EncodeShardHandle(const ShardHandle& handle);

// InvalidArgument naming the first problem: wrong header, unknown kind or
// key, missing or malformed field, zero bytes, base+bytes overflowing.
absl::StatusOr<ShardHandle> DecodeShardHandle(const std::string& blob);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_HANDLE_BLOB_H_
