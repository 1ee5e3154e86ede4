#include "gpu/cuda_driver.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace mx::examples::cuda {
namespace {

// Resolves `name` into `*slot`; false (and a message in *error) when missing.
template <typename Fn>
bool Resolve(void* library, const char* name, Fn* slot, std::string* error) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    absl::StrAppend(error, error->empty() ? "" : ", ", name);
    return false;
  }
  *slot = reinterpret_cast<Fn>(symbol);
  return true;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Driver>> Driver::Load() {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(
        absl::StrCat("cannot load the CUDA driver (libcuda.so.1): ", why ? why : "unknown"));
  }
  auto driver = std::make_shared<Driver>();
  driver->library = library;
  std::string missing;
  // The versioned names are what cuda.h maps the plain names to since CUDA 4/11.
  Resolve(library, "cuInit", &driver->cuInit, &missing);
  Resolve(library, "cuGetErrorString", &driver->cuGetErrorString, &missing);
  Resolve(library, "cuDeviceGetCount", &driver->cuDeviceGetCount, &missing);
  Resolve(library, "cuDeviceGet", &driver->cuDeviceGet, &missing);
  Resolve(library, "cuDeviceGetName", &driver->cuDeviceGetName, &missing);
  Resolve(library, "cuDeviceCanAccessPeer", &driver->cuDeviceCanAccessPeer, &missing);
  Resolve(library, "cuDevicePrimaryCtxRetain", &driver->cuDevicePrimaryCtxRetain, &missing);
  Resolve(library, "cuDevicePrimaryCtxRelease_v2", &driver->cuDevicePrimaryCtxRelease, &missing);
  Resolve(library, "cuCtxSetCurrent", &driver->cuCtxSetCurrent, &missing);
  Resolve(library, "cuCtxSynchronize", &driver->cuCtxSynchronize, &missing);
  Resolve(library, "cuCtxEnablePeerAccess", &driver->cuCtxEnablePeerAccess, &missing);
  Resolve(library, "cuMemAlloc_v2", &driver->cuMemAlloc, &missing);
  Resolve(library, "cuMemFree_v2", &driver->cuMemFree, &missing);
  Resolve(library, "cuMemGetInfo_v2", &driver->cuMemGetInfo, &missing);
  Resolve(library, "cuMemAllocHost_v2", &driver->cuMemAllocHost, &missing);
  Resolve(library, "cuMemFreeHost", &driver->cuMemFreeHost, &missing);
  Resolve(library, "cuMemsetD32_v2", &driver->cuMemsetD32, &missing);
  Resolve(library, "cuMemcpyDtoH_v2", &driver->cuMemcpyDtoH, &missing);
  Resolve(library, "cuMemcpyHtoD_v2", &driver->cuMemcpyHtoD, &missing);
  Resolve(library, "cuMemcpyDtoDAsync_v2", &driver->cuMemcpyDtoDAsync, &missing);
  Resolve(library, "cuMemcpyPeerAsync", &driver->cuMemcpyPeerAsync, &missing);
  Resolve(library, "cuIpcGetMemHandle", &driver->cuIpcGetMemHandle, &missing);
  Resolve(library, "cuIpcOpenMemHandle_v2", &driver->cuIpcOpenMemHandle, &missing);
  Resolve(library, "cuIpcCloseMemHandle", &driver->cuIpcCloseMemHandle, &missing);
  Resolve(library, "cuStreamCreate", &driver->cuStreamCreate, &missing);
  Resolve(library, "cuStreamDestroy_v2", &driver->cuStreamDestroy, &missing);
  Resolve(library, "cuStreamSynchronize", &driver->cuStreamSynchronize, &missing);
  Resolve(library, "cuMemGetAllocationGranularity", &driver->cuMemGetAllocationGranularity, &missing);
  Resolve(library, "cuMemCreate", &driver->cuMemCreate, &missing);
  Resolve(library, "cuMemRelease", &driver->cuMemRelease, &missing);
  Resolve(library, "cuMemAddressReserve", &driver->cuMemAddressReserve, &missing);
  Resolve(library, "cuMemAddressFree", &driver->cuMemAddressFree, &missing);
  Resolve(library, "cuMemMap", &driver->cuMemMap, &missing);
  Resolve(library, "cuMemUnmap", &driver->cuMemUnmap, &missing);
  Resolve(library, "cuMemSetAccess", &driver->cuMemSetAccess, &missing);
  Resolve(library, "cuMemExportToShareableHandle", &driver->cuMemExportToShareableHandle, &missing);
  Resolve(library, "cuMemImportFromShareableHandle", &driver->cuMemImportFromShareableHandle,
          &missing);
  if (!missing.empty()) {
    return absl::UnavailableError(absl::StrCat("libcuda.so.1 lacks: ", missing));
  }
  if (auto s = driver->Check(driver->cuInit(0), "cuInit"); !s.ok()) {
    return absl::UnavailableError(s.message());
  }
  return std::shared_ptr<const Driver>(std::move(driver));
}

absl::Status Driver::Check(CUresult result, const std::string& what) const {
  if (result == 0) return absl::OkStatus();
  const char* text = nullptr;
  if (cuGetErrorString == nullptr || cuGetErrorString(result, &text) != 0 || text == nullptr) {
    text = "unknown error";
  }
  return absl::InternalError(absl::StrCat(what, ": CUDA error ", result, " (", text, ")"));
}

}  // namespace mx::examples::cuda
