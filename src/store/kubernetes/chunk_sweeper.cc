#include "store/kubernetes/chunk_sweeper.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "store/kubernetes/object_codec.h"

namespace mx::store::kube {
namespace {

using nlohmann::json;

std::string Label(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return "";
  auto it = labels->find(key);
  return it != labels->end() && it->is_string() ? it->get<std::string>() : "";
}

struct Object {
  std::string name, uid, rv;
};

struct Generation {
  std::vector<Object> chunks;
  absl::Time newest = absl::InfinitePast();
};

}  // namespace

std::optional<absl::Time> CreationTime(const json& object) {
  std::string text = MetadataField(object, "creationTimestamp");
  if (text.empty() || text.back() != 'Z') return std::nullopt;
  text.pop_back();
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", text, absl::UTCTimeZone(), &t, &err)) {
    return std::nullopt;
  }
  return t;
}

ChunkSweeper::ChunkSweeper(ApiClient* client, std::string namespace_name,
                           absl::Duration interval, absl::Duration grace)
    : client_(client),
      namespace_name_(std::move(namespace_name)),
      interval_(interval),
      grace_(grace) {}

ChunkSweeper::~ChunkSweeper() { Stop(); }

void ChunkSweeper::Start() {
  if (interval_ <= absl::ZeroDuration()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ChunkSweeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ChunkSweeper::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
      if (stop_) return;
    }
    auto swept = SweepOnce();
    if (!swept.ok()) {
      spdlog::warn("kubernetes store: chunk sweep failed: {}", swept.status().ToString());
    } else if (*swept > 0) {
      spdlog::info("kubernetes store: swept {} unreferenced ConfigMaps", *swept);
    }
  }
}

absl::StatusOr<std::vector<json>> ChunkSweeper::ListRole(const char* role) {
  const std::string selector =
      absl::StrCat(kManagedByKey, "=", kManagedByValue, ",", kRoleKey, "=", role);
  return client_->ListAll(absl::StrCat("/api/v1/namespaces/", namespace_name_, "/configmaps"),
                          selector, 500, {"list", "configmaps", namespace_name_, ""});
}

bool ChunkSweeper::Delete(const std::string& name, const std::string& uid,
                          const std::string& rv) {
  json preconditions = {{"uid", uid}};
  if (!rv.empty()) preconditions["resourceVersion"] = rv;
  const json options = {{"apiVersion", "v1"},
                        {"kind", "DeleteOptions"},
                        {"propagationPolicy", "Background"},
                        {"preconditions", preconditions}};
  auto done = client_->Call("DELETE",
                            absl::StrCat("/api/v1/namespaces/", namespace_name_, "/configmaps/", name),
                            &options, "application/json",
                            {"delete", "configmaps", namespace_name_, name});
  if (done.ok()) deleted_.fetch_add(1);
  return done.ok();
}

absl::StatusOr<int> ChunkSweeper::SweepOnce() {
  auto chunks = ListRole("chunk");
  if (!chunks.ok()) return chunks.status();
  auto pending = ListRole("pending");
  if (!pending.ok()) return pending.status();
  const absl::Time now = absl::Now();
  // A missing or unreadable timestamp counts as "just made": never swept.
  auto age = [&](const json& object) { return now - CreationTime(object).value_or(now); };
  std::map<std::pair<std::string, std::string>, Generation> generations;
  for (const json& chunk : *chunks) {
    Generation& g = generations[{Label(chunk, kHeadKey), Label(chunk, kGenerationKey)}];
    g.chunks.push_back({MetadataField(chunk, "name"), MetadataField(chunk, "uid"), ""});
    g.newest = std::max(g.newest, now - age(chunk));
  }
  int deleted = 0;
  for (const auto& [key, generation] : generations) {
    const auto& [head_name, gen] = key;
    if (head_name.empty() || now - generation.newest < grace_) continue;
    auto head = client_->Call("GET",
                              absl::StrCat("/api/v1/namespaces/", namespace_name_, "/configmaps/",
                                           head_name),
                              nullptr, "", {"get", "configmaps", namespace_name_, head_name});
    if (head.ok()) {
      auto decoded = DecodeHead(*head);
      if (!decoded.ok()) continue;  // unreadable: not ours to judge
      if (!decoded->pending && decoded->chunks && decoded->chunks->generation == gen) continue;
    } else if (head.status().code() != absl::StatusCode::kNotFound) {
      continue;  // cannot tell now; next pass
    }
    for (const Object& chunk : generation.chunks) deleted += Delete(chunk.name, chunk.uid, "");
  }
  for (const json& head : *pending) {
    if (age(head) < grace_) continue;
    // The resourceVersion precondition: a publisher that switched it on
    // meanwhile wins.
    deleted += Delete(MetadataField(head, "name"), MetadataField(head, "uid"),
                      MetadataField(head, "resourceVersion"));
  }
  return deleted;
}

}  // namespace mx::store::kube
