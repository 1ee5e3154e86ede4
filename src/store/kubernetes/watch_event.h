// One line of a Kubernetes watch stream, checked for shape. The stream is
// written by the API server or anything between (a proxy, a broken
// apiserver aggregation): valid JSON of the wrong shape must not crash the
// cache, so nothing here throws. Pure; fuzzed by tests/fuzz/fuzz_k8s_watch_event.cc.
#ifndef MX_STORE_KUBERNETES_WATCH_EVENT_H_
#define MX_STORE_KUBERNETES_WATCH_EVENT_H_

#include <string>

#include <nlohmann/json.hpp>

namespace mx::store::kube {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError, kMalformed };
  Type type = Type::kMalformed;
  nlohmann::json object;          // the object (an object) for ADDED/MODIFIED/DELETED/BOOKMARK
  std::string resource_version;   // metadata.resourceVersion when present
  long error_code = 0;            // ERROR: the Status code (500 when absent)
  std::string what;               // kMalformed: why, for the log
};

// Decodes `event` (a discarded value when the line was not JSON). Never
// throws; anything but {"type": <known>, "object": {...}} is kMalformed.
WatchEvent DecodeWatchEvent(const nlohmann::json& event);

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_WATCH_EVENT_H_
