// libFuzzer target: decoding what the Kubernetes API server returns (a
// ConfigMap head, a compressed tensor table, an error Status body). The
// ConfigMaps are writable by anyone with RBAC on them, so none of this may
// crash or throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "store/kubernetes/api_client.h"
#include "store/kubernetes/object_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto object = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
      if (!object.is_discarded()) (void)mx::store::kube::DecodeHead(object);
      break;
    }
    case 1:
      (void)mx::store::kube::DecodeTable(bytes);
      break;
    default: {
      const mx::store::kube::RequestInfo info{"get", "configmaps", "ns", "name"};
      (void)mx::store::kube::StatusFromResponse(400 + data[0] % 200, bytes, info);
      break;
    }
  }
  return 0;
}
