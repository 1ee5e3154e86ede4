// Admin removal on the Kubernetes store: heads are deleted by name and
// labels, never decoded, so a head ConfigMap that no listing can show (a
// poison record) goes too, with its chunks.
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "store/kubernetes/kubernetes_store_impl.h"

namespace mx::store::kube {

using nlohmann::json;

absl::Status KubernetesStore::DeleteHeadObject(const json& object) {
  const std::string name = MetadataField(object, "name");
  const std::string uid = MetadataField(object, "uid");
  const std::string rv = MetadataField(object, "resourceVersion");
  if (name.empty() || uid.empty()) {
    return absl::DataLossError("a ConfigMap without metadata.name or metadata.uid");
  }
  json preconditions = {{"uid", uid}};
  if (!rv.empty()) preconditions["resourceVersion"] = rv;
  const json options = {{"apiVersion", "v1"},
                        {"kind", "DeleteOptions"},
                        {"propagationPolicy", "Background"},
                        {"preconditions", preconditions}};
  CallTrace trace;
  auto result = client_->Call("DELETE", Path(name), &options, "application/json",
                              Info("delete", name), &trace);
  // A timed-out DELETE that landed: its retry finds nothing.
  if (trace.ambiguous && absl::IsNotFound(result.status())) result = json::object();
  if (!result.ok()) return result.status();
  cache_.Erase(name, std::strtoull(rv.c_str(), nullptr, 10));
  DeleteAllChunks(name);
  return absl::OkStatus();
}

void KubernetesStore::DeleteAllChunks(const std::string& name) {
  const std::string selector = absl::StrCat(kManagedByKey, "=", kManagedByValue, ",", kRoleKey,
                                            "=chunk,", kHeadKey, "=", name);
  auto chunks = client_->ListAll(Path(), selector, options_.list_page_size, Info("list"));
  if (!chunks.ok()) {
    spdlog::warn("kubernetes store: chunks of {} left to the sweeper: {}", name,
                 chunks.status().ToString());
    return;
  }
  for (const json& chunk : *chunks) {
    const std::string chunk_name = MetadataField(chunk, "name");
    if (chunk_name.empty()) continue;
    (void)client_->Call("DELETE", Path(chunk_name), nullptr, "", Info("delete", chunk_name));
  }
}

absl::Status KubernetesStore::RemoveUndecodable(const std::string& name) {
  auto object = client_->Call("GET", Path(name), nullptr, "", Info("get", name));
  if (absl::IsNotFound(object.status())) return absl::NotFoundError("worker not found");
  if (!object.ok()) return object.status();
  absl::Status deleted = DeleteHeadObject(*object);
  if (deleted.ok()) {
    spdlog::warn("kubernetes store: removed undecodable worker head {}", name);
  } else if (absl::IsNotFound(deleted)) {
    return absl::NotFoundError("worker not found");
  }
  return deleted;
}

absl::StatusOr<uint32_t> KubernetesStore::RemoveSource(const std::string& source_id) {
  const std::string selector = absl::StrCat(kManagedByKey, "=", kManagedByValue, ",", kSourceKey,
                                            "=", LabelValue(source_id));
  uint32_t removed = 0;  // over every round
  for (int attempt = 0; attempt < options_.conflict_retries; ++attempt) {
    if (attempt > 0) Backoff(attempt);
    auto heads = client_->ListAll(Path(), selector, options_.list_page_size, Info("list"));
    if (!heads.ok()) return heads.status();
    bool changed = false;  // a head changed under us: list again
    for (const json& object : *heads) {
      // A head that decodes must name this very source (labels are hashes
      // of long ids); one that does not is judged by its label alone.
      auto head = DecodeHead(object);
      if (head.ok() && head->summary->source_id != source_id) continue;
      absl::Status s = DeleteHeadObject(object);
      if (s.ok()) {
        if (!head.ok() || !head->pending) ++removed;
      } else if (absl::IsAborted(s)) {
        changed = true;
      } else if (!absl::IsNotFound(s)) {
        return s;
      }
    }
    if (changed) continue;
    if (removed == 0) return absl::NotFoundError("source not found");
    return removed;
  }
  return absl::AbortedError("kubernetes store: the source kept changing while it was removed");
}

}  // namespace mx::store::kube
