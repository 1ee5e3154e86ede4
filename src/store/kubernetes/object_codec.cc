// Head and chunk ConfigMaps <-> records.
#include "store/kubernetes/object_codec.h"

#include <charconv>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace mx::store::kube {
namespace {

using nlohmann::json;

constexpr char kPrefix[] = "p2p.modelexpress.io/";
constexpr char kTableKey[] = "p2p.modelexpress.io/table";  // inline | chunked | pending
constexpr char kTableGenKey[] = "p2p.modelexpress.io/table-generation";
constexpr char kTableChunksKey[] = "p2p.modelexpress.io/table-chunks";
constexpr char kTableShaKey[] = "p2p.modelexpress.io/table-sha256";

// Exact bytes live in binaryData (any byte string survives); annotations
// carry readable copies for kubectl users only.
std::string Readable(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

std::optional<std::string> Binary(const json& object, const char* key) {
  auto data = object.find("binaryData");
  if (data == object.end() || !data->is_object()) return std::nullopt;
  auto it = data->find(key);
  if (it == data->end() || !it->is_string()) return std::nullopt;
  std::string out;
  if (!absl::Base64Unescape(it->get<std::string>(), &out)) return std::nullopt;
  return out;
}

std::string Text(const json& object, const char* section, const std::string& key) {
  auto meta = object.find("metadata");
  if (meta == object.end()) return "";
  auto sec = meta->find(section);
  if (sec == meta->end() || !sec->is_object()) return "";
  auto it = sec->find(key);
  return it != sec->end() && it->is_string() ? it->get<std::string>() : "";
}

uint64_t ParseU64(const std::string& s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string LoadText(float load) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), load);
  return ec == std::errc() ? std::string(buf, end) : "0";
}

// Anything unparsable (or an old head without the annotation) reads as 0.
float ParseLoad(const std::string& text) {
  float load = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), load);
  if (ec != std::errc() || ptr != text.data() + text.size()) return 0;
  return ClampLoad(load);
}

SourceStatus ParseStatus(const std::string& label) {
  if (label == "initializing") return model_express::p2p::SOURCE_STATUS_INITIALIZING;
  if (label == "ready") return model_express::p2p::SOURCE_STATUS_READY;
  if (label == "stale") return model_express::p2p::SOURCE_STATUS_STALE;
  return model_express::p2p::SOURCE_STATUS_UNKNOWN;
}

}  // namespace

std::string MetadataField(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(key);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

absl::StatusOr<HeadInfo> DecodeHead(const json& object) {
  // Anything may come back from the API server: json::value() throws on a
  // non-object or a non-string, so every field is type-checked here.
  if (!object.is_object()) return absl::DataLossError("ConfigMap is not a JSON object");
  HeadInfo head;
  auto meta = object.find("metadata");
  auto field = [&](const char* key) -> std::string {
    if (meta == object.end() || !meta->is_object()) return "";
    auto it = meta->find(key);
    return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
  };
  head.name = field("name");
  head.uid = field("uid");
  head.resource_version = field("resourceVersion");
  head.rv = ParseU64(head.resource_version);
  auto record = std::make_shared<WorkerRecord>();
  auto source = Binary(object, "source-id");
  auto worker = Binary(object, "worker-id");
  auto identity = Binary(object, "identity");
  if (!source || !worker || !identity || !record->identity.ParseFromString(*identity)) {
    return absl::DataLossError(absl::StrCat("ConfigMap ", head.name, " is not an mxd worker"));
  }
  record->source_id = *source;
  record->worker_id = *worker;
  record->owner = Binary(object, "owner").value_or("");
  record->pod_name = Binary(object, "pod-name").value_or("");
  record->pod_uid = Binary(object, "pod-uid").value_or("");
  record->pod_namespace = Binary(object, "pod-namespace").value_or("");
  record->worker.set_worker_rank(
      static_cast<uint32_t>(ParseU64(Text(object, "labels", kRankKey))));
  record->worker.set_accelerator(Binary(object, "accelerator").value_or(""));
  head.state.status = ParseStatus(Text(object, "labels", kStatusKey));
  head.state.updated_at_ms =
      static_cast<int64_t>(ParseU64(Text(object, "annotations", kUpdatedAtKey)));
  head.state.source_load = ParseLoad(Text(object, "annotations", kSourceLoadKey));
  if (auto topology = Binary(object, "topology")) {
    // A WorkerMetadata holding only the topology map; absent on old heads.
    model_express::p2p::WorkerMetadata holder;
    if (!holder.ParseFromString(*topology)) {
      return absl::DataLossError(absl::StrCat("ConfigMap ", head.name, " topology is corrupt"));
    }
    record->worker.mutable_topology()->swap(*holder.mutable_topology());
  }
  const std::string mode = Text(object, "annotations", kTableKey);
  head.pending = mode == "pending";
  if (mode == "inline") {
    head.inline_table = Binary(object, "table");
    if (!head.inline_table) return absl::DataLossError("inline table missing");
  } else if (mode == "chunked") {
    ChunkManifest m;
    m.generation = Text(object, "annotations", kTableGenKey);
    m.count = static_cast<int>(ParseU64(Text(object, "annotations", kTableChunksKey)));
    m.sha256 = Text(object, "annotations", kTableShaKey);
    head.chunks = m;
  }
  head.ref = MakeRef(*record, head.state);
  head.summary = std::move(record);
  return head;
}

json BuildHead(const HeadSpec& spec) {
  const WorkerRecord& r = *spec.record;
  json labels = {{kManagedByKey, kManagedByValue},
                 {kRoleKey, spec.pending ? "pending" : "worker"},
                 {kSourceKey, LabelValue(r.source_id)},
                 {kRankKey, std::to_string(r.worker.worker_rank())},
                 {kStatusKey, StatusLabel(spec.state.status)}};
  json annotations = {{absl::StrCat(kPrefix, "source-id"), Readable(r.source_id)},
                      {absl::StrCat(kPrefix, "worker-id"), Readable(r.worker_id)},
                      {absl::StrCat(kPrefix, "model-name"), Readable(r.identity.model_name())},
                      {kUpdatedAtKey, std::to_string(spec.state.updated_at_ms)},
                      {kTableKey, spec.pending ? "pending" : (spec.chunks ? "chunked" : "inline")}};
  json binary = {{"source-id", absl::Base64Escape(r.source_id)},
                 {"worker-id", absl::Base64Escape(r.worker_id)},
                 {"identity", absl::Base64Escape(r.identity.SerializeAsString())}};
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) binary[key] = absl::Base64Escape(value);
  };
  put("owner", r.owner);
  put("pod-name", r.pod_name);
  put("pod-uid", r.pod_uid);
  put("pod-namespace", r.pod_namespace);
  put("accelerator", r.worker.accelerator());
  if (!r.worker.topology().empty()) {
    model_express::p2p::WorkerMetadata holder;
    *holder.mutable_topology() = r.worker.topology();
    put("topology", holder.SerializeAsString());
  }
  if (spec.state.source_load != 0) annotations[kSourceLoadKey] = LoadText(spec.state.source_load);
  if (spec.inline_table) binary["table"] = absl::Base64Escape(*spec.inline_table);
  if (spec.chunks) {
    annotations[kTableGenKey] = spec.chunks->generation;
    annotations[kTableChunksKey] = std::to_string(spec.chunks->count);
    annotations[kTableShaKey] = spec.chunks->sha256;
  }
  json metadata = {{"name", spec.name}, {"labels", labels}, {"annotations", annotations}};
  if (!spec.resource_version.empty()) metadata["resourceVersion"] = spec.resource_version;
  if (spec.owned_by_pod) {
    // Not a controller and no blockOwnerDeletion: the pod's deletion is
    // never held up by us, and the GC removes the head (then its chunks).
    metadata["ownerReferences"] = json::array(
        {{{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", r.pod_name}, {"uid", r.pod_uid}}});
  }
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", metadata},
          {"binaryData", binary}};
}

json BuildChunk(const std::string& head_name, const std::string& head_uid,
                const std::string& generation, int index, const std::string& data) {
  json labels = {{kManagedByKey, kManagedByValue},
                 {kRoleKey, "chunk"},
                 {kHeadKey, head_name},
                 {kGenerationKey, generation}};
  json owner = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", head_name},
                {"uid", head_uid}};
  json metadata = {{"name", ChunkName(head_name, generation, index)},
                   {"labels", labels},
                   {"annotations", {{absl::StrCat(kPrefix, "chunk-index"), std::to_string(index)}}},
                   {"ownerReferences", json::array({owner})}};
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", metadata},
          {"binaryData", {{"data", absl::Base64Escape(data)}}}};
}

absl::StatusOr<std::string> JoinChunks(const std::vector<json>& chunks,
                                       const ChunkManifest& manifest) {
  std::map<int, std::string> parts;
  for (const json& chunk : chunks) {
    const int index =
        static_cast<int>(ParseU64(Text(chunk, "annotations", absl::StrCat(kPrefix, "chunk-index"))));
    auto data = Binary(chunk, "data");
    if (data) parts[index] = std::move(*data);
  }
  if (static_cast<int>(parts.size()) != manifest.count) {
    return absl::FailedPreconditionError("table chunks missing (generation switched?)");
  }
  std::string joined;
  for (int i = 0; i < manifest.count; ++i) {
    auto it = parts.find(i);
    if (it == parts.end()) return absl::FailedPreconditionError("table chunk missing");
    joined += it->second;
  }
  if (Sha256Hex(joined) != manifest.sha256) {
    return absl::FailedPreconditionError("table checksum mismatch");
  }
  return joined;
}

json StatusPatch(const std::string& resource_version, const WorkerState& state) {
  return {{"metadata",
           {{"resourceVersion", resource_version},
            {"labels", {{kStatusKey, StatusLabel(state.status)}}},
            {"annotations",
             {{kUpdatedAtKey, std::to_string(state.updated_at_ms)},
              {kSourceLoadKey, LoadText(state.source_load)}}}}}};
}

}  // namespace mx::store::kube
