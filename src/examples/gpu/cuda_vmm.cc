#include "gpu/cuda_vmm.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace mx::examples {
namespace {

cuda::CUmemAllocationProp PinnedOn(int device) {
  cuda::CUmemAllocationProp prop{};
  prop.type = cuda::kMemAllocationTypePinned;
  prop.requestedHandleTypes = cuda::kMemHandleTypePosixFileDescriptor;
  prop.location.type = cuda::kMemLocationTypeDevice;
  prop.location.id = device;
  return prop;
}

// Reserves a range for `mapping->handle`, maps it and sets access; on error
// undoes what it did (the handle stays the caller's).
absl::Status MapAndGrant(const cuda::Driver& d, VmmMapping* mapping, const std::vector<int>& access) {
  if (auto s = d.Check(d.cuMemAddressReserve(&mapping->base, mapping->bytes, 0, 0, 0),
                       "cuMemAddressReserve");
      !s.ok()) {
    return s;
  }
  absl::Status status = d.Check(d.cuMemMap(mapping->base, mapping->bytes, 0, mapping->handle, 0),
                                "cuMemMap");
  if (status.ok()) {
    std::vector<cuda::CUmemAccessDesc> descs;
    for (int device : access) {
      cuda::CUmemAccessDesc desc{};
      desc.location.type = cuda::kMemLocationTypeDevice;
      desc.location.id = device;
      desc.flags = cuda::kMemAccessFlagsProtReadWrite;
      descs.push_back(desc);
    }
    status = d.Check(d.cuMemSetAccess(mapping->base, mapping->bytes, descs.data(), descs.size()),
                     "cuMemSetAccess");
    if (!status.ok()) d.cuMemUnmap(mapping->base, mapping->bytes);
  }
  if (!status.ok()) {
    d.cuMemAddressFree(mapping->base, mapping->bytes);
    mapping->base = 0;
  }
  return status;
}

}  // namespace

absl::StatusOr<uint64_t> VmmGranularity(const cuda::Driver& d, int device) {
  const cuda::CUmemAllocationProp prop = PinnedOn(device);
  size_t granularity = 0;
  if (auto s = d.Check(d.cuMemGetAllocationGranularity(&granularity, &prop,
                                                       cuda::kMemAllocGranularityRecommended),
                       "cuMemGetAllocationGranularity");
      !s.ok()) {
    return s;
  }
  if (granularity == 0) return absl::InternalError("allocation granularity 0");
  return static_cast<uint64_t>(granularity);
}

absl::StatusOr<VmmMapping> VmmAllocate(const cuda::Driver& d, int device, uint64_t bytes,
                                       const std::vector<int>& access) {
  auto granularity = VmmGranularity(d, device);
  if (!granularity.ok()) return granularity.status();
  VmmMapping mapping;
  mapping.bytes = (bytes + *granularity - 1) / *granularity * *granularity;
  const cuda::CUmemAllocationProp prop = PinnedOn(device);
  if (auto s = d.Check(d.cuMemCreate(&mapping.handle, mapping.bytes, &prop, 0),
                       absl::StrCat("cuMemCreate(", mapping.bytes, ")"));
      !s.ok()) {
    return s;
  }
  if (auto s = MapAndGrant(d, &mapping, access); !s.ok()) {
    d.cuMemRelease(mapping.handle);
    return s;
  }
  return mapping;
}

absl::StatusOr<int> VmmExport(const cuda::Driver& d, const VmmMapping& mapping) {
  int fd = -1;
  if (auto s = d.Check(d.cuMemExportToShareableHandle(&fd, mapping.handle,
                                                      cuda::kMemHandleTypePosixFileDescriptor, 0),
                       "cuMemExportToShareableHandle");
      !s.ok()) {
    return s;
  }
  return fd;
}

absl::StatusOr<VmmMapping> VmmImport(const cuda::Driver& d, int fd, uint64_t bytes,
                                     const std::vector<int>& access) {
  VmmMapping mapping;
  mapping.bytes = bytes;
  void* os_handle = reinterpret_cast<void*>(static_cast<uintptr_t>(fd));
  if (auto s = d.Check(d.cuMemImportFromShareableHandle(&mapping.handle, os_handle,
                                                        cuda::kMemHandleTypePosixFileDescriptor),
                       "cuMemImportFromShareableHandle");
      !s.ok()) {
    return s;
  }
  if (auto s = MapAndGrant(d, &mapping, access); !s.ok()) {
    d.cuMemRelease(mapping.handle);
    return s;
  }
  return mapping;
}

void VmmRelease(const cuda::Driver& d, VmmMapping& mapping) {
  if (mapping.base != 0) {
    d.cuMemUnmap(mapping.base, mapping.bytes);
    d.cuMemAddressFree(mapping.base, mapping.bytes);
  }
  if (mapping.handle != 0) d.cuMemRelease(mapping.handle);
  mapping = VmmMapping{};
}

}  // namespace mx::examples
