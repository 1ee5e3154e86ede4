#include "store/kubernetes/watch_event.h"

namespace mx::store::kube {
namespace {

WatchEvent Malformed(std::string what) {
  WatchEvent event;
  event.what = std::move(what);
  return event;
}

}  // namespace

WatchEvent DecodeWatchEvent(const nlohmann::json& event) {
  try {
    if (event.is_discarded()) return Malformed("event line is not JSON");
    if (!event.is_object()) return Malformed("event is not a JSON object");
    auto type = event.find("type");
    if (type == event.end() || !type->is_string()) return Malformed("event has no string type");
    auto object = event.find("object");
    if (object == event.end() || !object->is_object()) {
      return Malformed("event has no object");
    }
    const std::string& name = type->get_ref<const std::string&>();
    WatchEvent out;
    if (name == "ADDED") {
      out.type = WatchEvent::Type::kAdded;
    } else if (name == "MODIFIED") {
      out.type = WatchEvent::Type::kModified;
    } else if (name == "DELETED") {
      out.type = WatchEvent::Type::kDeleted;
    } else if (name == "BOOKMARK") {
      out.type = WatchEvent::Type::kBookmark;
    } else if (name == "ERROR") {
      out.type = WatchEvent::Type::kError;
      auto code = object->find("code");
      out.error_code = code != object->end() && code->is_number_integer() ? code->get<long>() : 0;
      if (out.error_code < 100 || out.error_code > 599) out.error_code = 500;
    } else {
      return Malformed("unknown event type");
    }
    auto meta = object->find("metadata");
    if (meta != object->end() && meta->is_object()) {
      auto rv = meta->find("resourceVersion");
      if (rv != meta->end() && rv->is_string()) out.resource_version = rv->get<std::string>();
    }
    if (out.type != WatchEvent::Type::kError && out.type != WatchEvent::Type::kBookmark &&
        (meta == object->end() || !meta->is_object())) {
      return Malformed("event object has no metadata");
    }
    if (out.type == WatchEvent::Type::kBookmark && out.resource_version.empty()) {
      return Malformed("bookmark without a resourceVersion");
    }
    out.object = *object;
    return out;
  } catch (const nlohmann::json::exception& e) {
    return Malformed(e.what());
  }
}

}  // namespace mx::store::kube
