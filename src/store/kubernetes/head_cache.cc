#include "store/kubernetes/head_cache.h"

#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "spdlog/spdlog.h"

namespace mx::store::kube {
namespace {

using nlohmann::json;

// 100 ms doubling to 5 s, each scaled into [0.5, 1.0] of that.
absl::Duration Backoff(int failures) {
  const int base_ms = std::min(5000, 100 * (1 << std::min(failures, 6)));
  return absl::FromChrono(Jittered(std::chrono::milliseconds(base_ms * 3 / 4), 1.0 / 3));
}

}  // namespace

HeadCache::HeadCache(k8s::ApiClient* client, HeadCacheOptions options)
    : client_(client), options_(std::move(options)) {}

HeadCache::~HeadCache() { Stop(); }

void HeadCache::Start() { thread_ = std::thread([this] { Loop(); }); }

void HeadCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  canceller_.Cancel();
  if (thread_.joinable()) thread_.join();
}

bool HeadCache::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return !stop_;
}

void HeadCache::Loop() {
  bool need_list = true;
  int failures = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (need_list) {
      absl::Status listed = Relist();
      if (!listed.ok()) {
        {
          absl::MutexLock lock(&mu_);
          synced_ = false;  // serving stale data as "the truth" would be worse
        }
        spdlog::warn("kubernetes store: list failed: {}", listed.ToString());
        if (!SleepUnlessStopped(Backoff(++failures))) return;
        continue;
      }
      need_list = false;
      failures = 0;
    }
    bool relist = false;
    absl::Status watched = WatchOnce(&relist);
    if (relist || watched.code() == absl::StatusCode::kOutOfRange) {
      need_list = true;  // 410 Gone: our resourceVersion was compacted away
      continue;
    }
    if (!watched.ok()) {
      spdlog::warn("kubernetes store: watch failed: {}", watched.ToString());
      // A few quick re-watches, then prove reachability with a list.
      if (++failures >= 3) need_list = true;
      if (!SleepUnlessStopped(Backoff(failures))) return;
      continue;
    }
    failures = 0;  // the server ended the stream normally: resume
  }
}

absl::Status HeadCache::Relist() {
  const std::string base = absl::StrCat(
      "/api/v1/namespaces/", options_.namespace_name, "/configmaps?labelSelector=",
      k8s::UrlEncode(WorkerSelector()), "&limit=", options_.page_size);
  const k8s::RequestInfo info{"list", "configmaps", options_.namespace_name, ""};
  absl::flat_hash_map<std::string, HeadInfo> fresh;
  std::string list_rv;
  std::string cont;
  for (int restarts = 0;;) {
    std::string path = base;
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", k8s::UrlEncode(cont));
    auto page = client_->Call("GET", path, nullptr, "", info);
    if (!page.ok()) {
      if (page.status().code() != absl::StatusCode::kOutOfRange || ++restarts > 3) {
        return page.status();
      }
      cont.clear();  // the continue token expired: start over
      fresh.clear();
      continue;
    }
    const json& meta = (*page)["metadata"];
    if (cont.empty()) list_rv = meta.value("resourceVersion", "");
    for (const json& item : (*page)["items"]) {
      auto head = DecodeHead(item);
      if (!head.ok()) {
        spdlog::warn("kubernetes store: skipping {}", head.status().ToString());
        continue;
      }
      head->inline_table.reset();
      fresh[head->name] = std::move(*head);
    }
    cont = meta.value("continue", "");
    if (cont.empty()) break;
  }
  lists_.fetch_add(1);
  const uint64_t rv = std::strtoull(list_rv.c_str(), nullptr, 10);
  absl::MutexLock lock(&mu_);
  // Keep what this replica wrote after the list's snapshot.
  for (auto& [name, head] : heads_) {
    if (head.rv > rv) fresh[name] = head;
  }
  for (auto it = tombstones_.begin(); it != tombstones_.end();) {
    auto found = fresh.find(it->first);
    if (found != fresh.end() && found->second.rv <= it->second) fresh.erase(found);
    if (it->second <= rv) {
      tombstones_.erase(it++);
    } else {
      ++it;
    }
  }
  heads_ = std::move(fresh);
  resource_version_ = list_rv;
  synced_ = true;
  return absl::OkStatus();
}

absl::Status HeadCache::WatchOnce(bool* relist) {
  std::string rv;
  {
    absl::MutexLock lock(&mu_);
    rv = resource_version_;
  }
  const std::string path = absl::StrCat(
      "/api/v1/namespaces/", options_.namespace_name,
      "/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=", k8s::UrlEncode(rv),
      "&timeoutSeconds=", options_.watch_timeout.count(),
      "&labelSelector=", k8s::UrlEncode(WorkerSelector()));
  const k8s::RequestInfo info{"watch", "configmaps", options_.namespace_name, ""};
  watches_.fetch_add(1);
  absl::Status error;
  absl::Status ended = client_->Watch(
      path, info, options_.watch_timeout,
      [&](const json& event) {
        const std::string type = event.value("type", "");
        const json& object = event.contains("object") ? event["object"] : json::object();
        if (type == "ERROR") {
          const long code = object.value("code", 0L);
          if (code == 410) {
            *relist = true;
          } else {
            error = k8s::StatusFromResponse(code ? code : 500, object.dump(), info);
          }
          return false;
        }
        const std::string object_rv =
            object.value("metadata", json::object()).value("resourceVersion", "");
        if (type != "BOOKMARK") OnObject(type, object);
        absl::MutexLock lock(&mu_);
        if (!object_rv.empty()) resource_version_ = object_rv;
        return !stop_;
      },
      &canceller_);
  return ended.ok() ? error : ended;
}

void HeadCache::OnObject(const std::string& type, const json& object) {
  auto head = DecodeHead(object);
  if (!head.ok()) return;
  head->inline_table.reset();
  absl::MutexLock lock(&mu_);
  if (type == "DELETED") {
    tombstones_.erase(head->name);
    auto it = heads_.find(head->name);
    if (it != heads_.end() && (head->rv == 0 || it->second.rv <= head->rv)) heads_.erase(it);
    return;
  }
  ApplyLocked(*head);
}

void HeadCache::ApplyLocked(const HeadInfo& head) {
  if (auto t = tombstones_.find(head.name); t != tombstones_.end()) {
    if (head.rv != 0 && head.rv <= t->second) return;
    tombstones_.erase(t);
  }
  auto it = heads_.find(head.name);
  if (it != heads_.end() && head.rv != 0 && it->second.rv > head.rv) return;
  if (head.pending) {
    if (it != heads_.end()) heads_.erase(it);
    return;
  }
  HeadInfo copy = head;
  copy.inline_table.reset();  // Get reads tables from the API server
  heads_[head.name] = std::move(copy);
}

void HeadCache::Apply(const HeadInfo& head) {
  absl::MutexLock lock(&mu_);
  ApplyLocked(head);
}

void HeadCache::Erase(const std::string& name, uint64_t rv) {
  absl::MutexLock lock(&mu_);
  auto it = heads_.find(name);
  if (it != heads_.end() && (rv == 0 || it->second.rv <= rv)) heads_.erase(it);
  tombstones_[name] = rv;
}

absl::Status HeadCache::WaitSynced(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return synced_ || stop_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (!synced_) return absl::UnavailableError("kubernetes store: cache has not synced yet");
  return absl::OkStatus();
}

absl::Status HeadCache::Health() {
  absl::MutexLock lock(&mu_);
  if (!synced_) {
    return absl::UnavailableError("kubernetes store: cache not synced with the API server");
  }
  return absl::OkStatus();
}

bool HeadCache::synced() const {
  absl::ReaderMutexLock lock(&mu_);
  return synced_;
}

std::optional<HeadInfo> HeadCache::Find(const std::string& name) {
  absl::ReaderMutexLock lock(&mu_);
  if (!synced_) return std::nullopt;
  auto it = heads_.find(name);
  if (it == heads_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<WorkerRef>> HeadCache::List(const ListQuery& query) {
  std::vector<WorkerRef> refs;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!synced_) {
      return absl::UnavailableError("kubernetes store: cache not synced with the API server");
    }
    for (const auto& [name, head] : heads_) {
      if (Matches(query, head.ref)) refs.push_back(head.ref);
    }
  }
  SortAndLimit(query, &refs);
  return refs;
}

}  // namespace mx::store::kube
