// The few CUDA driver API entry points the GPU examples use, loaded at run
// time with dlopen("libcuda.so.1"). No CUDA header or library is needed to
// build: the types and prototypes below are declared here, matching the
// driver API's ABI (CUdeviceptr is 64-bit, CUipcMemHandle is 64 opaque bytes,
// the VMM structs as laid out in cuda.h, checked by static_assert).
#ifndef MX_EXAMPLES_GPU_CUDA_DRIVER_H_
#define MX_EXAMPLES_GPU_CUDA_DRIVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mx::examples::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUstream = struct CUstream_st*;
struct CUipcMemHandle {
  char reserved[64];
};
constexpr unsigned kIpcMemLazyEnablePeerAccess = 0x1;  // CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS
constexpr unsigned kStreamNonBlocking = 0x1;            // CU_STREAM_NON_BLOCKING
constexpr CUresult kErrorPeerAccessAlreadyEnabled = 704;

// Virtual memory management (CUDA 10.2+), as cuda.h lays the structs out.
using CUmemGenericAllocationHandle = unsigned long long;
constexpr int kMemAllocationTypePinned = 0x1;        // CU_MEM_ALLOCATION_TYPE_PINNED
constexpr int kMemLocationTypeDevice = 0x1;          // CU_MEM_LOCATION_TYPE_DEVICE
constexpr int kMemHandleTypePosixFileDescriptor = 0x1;  // CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
constexpr int kMemAccessFlagsProtReadWrite = 0x3;    // CU_MEM_ACCESS_FLAGS_PROT_READWRITE
constexpr int kMemAllocGranularityRecommended = 0x1;  // CU_MEM_ALLOC_GRANULARITY_RECOMMENDED
struct CUmemLocation {
  int type;  // CUmemLocationType
  int id;
};
struct CUmemAllocationProp {
  int type;                  // CUmemAllocationType
  int requestedHandleTypes;  // CUmemAllocationHandleType
  CUmemLocation location;
  void* win32HandleMetaData;
  struct {
    unsigned char compressionType;
    unsigned char gpuDirectRDMACapable;
    unsigned short usage;
    unsigned char reserved[4];
  } allocFlags;
};
struct CUmemAccessDesc {
  CUmemLocation location;
  int flags;  // CUmemAccess_flags
};
static_assert(sizeof(CUmemLocation) == 8, "CUmemLocation is two ints");
static_assert(sizeof(CUmemAllocationProp) == 32, "CUmemAllocationProp is 32 bytes in cuda.h");
static_assert(offsetof(CUmemAllocationProp, win32HandleMetaData) == 16, "pointer after location");
static_assert(sizeof(CUmemAccessDesc) == 12, "CUmemAccessDesc is 12 bytes in cuda.h");

// Function table of the loaded driver. Thread-safe to call from any thread
// (the driver is); the table itself is immutable after Load().
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceCanAccessPeer)(int*, CUdevice, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuCtxEnablePeerAccess)(CUcontext, unsigned);
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemGetInfo)(size_t*, size_t*);
  CUresult (*cuMemAllocHost)(void**, size_t);
  CUresult (*cuMemFreeHost)(void*);
  CUresult (*cuMemsetD32)(CUdeviceptr, unsigned, size_t);
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyPeerAsync)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t, CUstream);
  CUresult (*cuIpcGetMemHandle)(CUipcMemHandle*, CUdeviceptr);
  CUresult (*cuIpcOpenMemHandle)(CUdeviceptr*, CUipcMemHandle, unsigned);
  CUresult (*cuIpcCloseMemHandle)(CUdeviceptr);
  CUresult (*cuStreamCreate)(CUstream*, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  // VMM: allocation, address reservation, mapping, access, export/import.
  CUresult (*cuMemGetAllocationGranularity)(size_t*, const CUmemAllocationProp*, int);
  CUresult (*cuMemCreate)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*,
                          unsigned long long);
  CUresult (*cuMemRelease)(CUmemGenericAllocationHandle);
  CUresult (*cuMemAddressReserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr, unsigned long long);
  CUresult (*cuMemAddressFree)(CUdeviceptr, size_t);
  CUresult (*cuMemMap)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
  CUresult (*cuMemUnmap)(CUdeviceptr, size_t);
  CUresult (*cuMemSetAccess)(CUdeviceptr, size_t, const CUmemAccessDesc*, size_t);
  // shareableHandle points to an int (the fd) for POSIX file descriptors.
  CUresult (*cuMemExportToShareableHandle)(void*, CUmemGenericAllocationHandle, int, unsigned long long);
  // osHandle is the fd itself, cast to void*.
  CUresult (*cuMemImportFromShareableHandle)(CUmemGenericAllocationHandle*, void*, int);

  // dlopen("libcuda.so.1") and resolve every entry point, then cuInit(0).
  // Unavailable (with dlerror's text) when the library or a symbol is
  // missing, or when cuInit fails (no GPU, no driver).
  static absl::StatusOr<std::shared_ptr<const Driver>> Load();

  // OK for CUDA_SUCCESS, else Internal("<what>: <driver's error string>").
  absl::Status Check(CUresult result, const std::string& what) const;

  void* library = nullptr;  // dlopen handle, never closed (the driver stays loaded)
};

}  // namespace mx::examples::cuda

#endif  // MX_EXAMPLES_GPU_CUDA_DRIVER_H_
