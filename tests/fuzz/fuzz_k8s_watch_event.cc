// libFuzzer target: one line of a Kubernetes watch stream, as the head
// cache reads it (DecodeWatchEvent, then DecodeHead of the object). A watch
// line comes from the API server or anything in between; valid JSON of the
// wrong shape ([1,2], {"type":7}) once aborted mxd. None of it may throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "store/kubernetes/object_codec.h"
#include "store/kubernetes/watch_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  const auto event = mx::store::kube::DecodeWatchEvent(json);
  using Type = mx::store::kube::WatchEvent::Type;
  if (event.type == Type::kAdded || event.type == Type::kModified ||
      event.type == Type::kDeleted) {
    (void)mx::store::kube::DecodeHead(event.object);
  }
  return 0;
}
