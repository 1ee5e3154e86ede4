// CUDA virtual memory management (cuMemCreate and friends): one physical
// allocation on a device, mapped at a reserved address range, readable and
// writable from the devices given access, and shareable with another process
// as a POSIX file descriptor. The GPU seed's default buffer (kind cuda-vmm);
// the target imports the fd and maps it in its own address space.
#ifndef MX_EXAMPLES_GPU_CUDA_VMM_H_
#define MX_EXAMPLES_GPU_CUDA_VMM_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "gpu/cuda_driver.h"

namespace mx::examples {

struct VmmMapping {
  cuda::CUdeviceptr base = 0;
  uint64_t bytes = 0;  // the mapped (= allocated) size
  cuda::CUmemGenericAllocationHandle handle = 0;
};

// The recommended allocation granularity of `device` for an fd-shareable
// pinned allocation.
absl::StatusOr<uint64_t> VmmGranularity(const cuda::Driver& d, int device);

// Allocates at least `bytes` (rounded up to the granularity) on `device`,
// exportable as an fd, maps it at a fresh reserved range and gives read/write
// access to every device in `access` (the owner must be among them to use it).
absl::StatusOr<VmmMapping> VmmAllocate(const cuda::Driver& d, int device, uint64_t bytes,
                                       const std::vector<int>& access);

// A new POSIX fd for the allocation (the caller closes it).
absl::StatusOr<int> VmmExport(const cuda::Driver& d, const VmmMapping& mapping);

// Imports an allocation of `bytes` from `fd` (left open; the caller closes
// it), maps it at a fresh reserved range and gives access to `access`.
absl::StatusOr<VmmMapping> VmmImport(const cuda::Driver& d, int fd, uint64_t bytes,
                                     const std::vector<int>& access);

// Unmaps, frees the range and releases the handle; a zero mapping is a no-op.
void VmmRelease(const cuda::Driver& d, VmmMapping& mapping);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_CUDA_VMM_H_
