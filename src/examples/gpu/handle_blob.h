// What a GPU-example seed puts in WorkerMetadata.nixl_metadata: how a target
// maps the seed's shard buffer. A small line-oriented text format:
//
//   mx-shard/1
//   kind=cuda-ipc            (or cuda-vmm, host-shm)
//   device=0                 (the seed's CUDA device ordinal; 0 for host-shm)
//   base=0x7f2a00000000      (address of the buffer in the seed; every tensor's
//   bytes=31457280000         addr lies in [base, base+bytes))
//   handle=<128 hex digits>  (cuda-ipc: the CUipcMemHandle of the buffer, lower case)
//   shm=/mx-gpu-seed-1234    (host-shm: the POSIX shared-memory name)
//   alloc=29302439936        (cuda-vmm: the cuMemCreate allocation's size, >= bytes,
//                             a multiple of the allocation granularity)
//   pid=1234                 (cuda-vmm: the seed's pid and the number of the fd that
//   fd=17                     cuMemExportToShareableHandle gave it: pidfd_getfd)
//   socket=@mx-gpu-seed-1234 (cuda-vmm: abstract unix socket sending that fd by
//                             SCM_RIGHTS, where pidfd_getfd is refused)
//
// One handle covers the whole shard: the seed makes one allocation and packs
// the tensors into it at offsets (a CUDA IPC handle always refers to a whole
// allocation, so one handle and one cuIpcOpenMemHandle replace ~3,000; a VMM
// export likewise names one cuMemCreate allocation).
#ifndef MX_EXAMPLES_GPU_HANDLE_BLOB_H_
#define MX_EXAMPLES_GPU_HANDLE_BLOB_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace mx::examples {

struct ShardHandle {
  enum class Kind { kCudaIpc, kCudaVmm, kHostShm };
  Kind kind = Kind::kHostShm;
  int device = 0;
  uint64_t base = 0;
  uint64_t bytes = 0;
  std::string ipc_handle;  // cuda-ipc: exactly 64 raw bytes
  std::string shm_name;    // host-shm: "/name", no other '/'
  uint64_t alloc_bytes = 0;  // cuda-vmm: allocation size, >= bytes
  int pid = 0;               // cuda-vmm: the seed's process
  int fd = -1;               // cuda-vmm: the exported fd in that process
  std::string socket;        // cuda-vmm: "@name" serving the fd (fd_passing.h)
};

std::string EncodeShardHandle(const ShardHandle& handle);

// "cuda-ipc", "cuda-vmm" or "host-shm".
const char* KindName(ShardHandle::Kind kind);

// InvalidArgument naming the first problem: wrong header, unknown kind or
// key, missing or malformed field, zero bytes, base+bytes overflowing.
absl::StatusOr<ShardHandle> DecodeShardHandle(const std::string& blob);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_HANDLE_BLOB_H_
