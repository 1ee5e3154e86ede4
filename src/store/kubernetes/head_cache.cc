#include "store/kubernetes/head_cache.h"

#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "spdlog/spdlog.h"
#include "store/kubernetes/watch_event.h"

namespace mx::store::kube {
namespace {

using nlohmann::json;

// Jittered exponential backoff, 100 ms doubling up to 2 s, each scaled
// into [0.5, 1.0] of that: a returning API server is noticed within about
// 2 s (the recovery figure in docs/kubernetes-store.md).
absl::Duration Backoff(int failures) {
  const int base_ms = std::min(2000, 100 * (1 << std::min(std::max(failures, 1) - 1, 6)));
  return absl::FromChrono(Jittered(std::chrono::milliseconds(base_ms * 3 / 4), 1.0 / 3));
}

// A watch that ended sooner than this counts as a quick end: the next
// re-watch waits (a stream that ends at once must not re-open in a loop).
constexpr absl::Duration kQuickEnd = absl::Seconds(1);

}  // namespace

HeadCache::HeadCache(ApiClient* client, HeadCacheOptions options)
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
  int failures = 0;     // failed lists or watches in a row
  int quick_ends = 0;   // watches in a row that ended within kQuickEnd
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (need_list) {
      absl::Status listed = Relist();
      if (!listed.ok()) {
        failed_lists_.fetch_add(1);
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
    const absl::Time started = absl::Now();
    absl::Status watched = WatchOnce(&relist);
    // Every re-watch backs off when the last one ended at once, whatever
    // the reason: an API server (or proxy) that closes every stream
    // immediately costs a few requests a second, not hundreds.
    if (absl::Now() - started < kQuickEnd) {
      if (!SleepUnlessStopped(Backoff(++quick_ends))) return;
    } else {
      quick_ends = 0;
    }
    if (relist || watched.code() == absl::StatusCode::kOutOfRange) {
      need_list = true;  // 410 Gone, or an event we could not read
      continue;
    }
    if (watched.code() == absl::StatusCode::kDeadlineExceeded) {
      watchdog_restarts_.fetch_add(1);
      spdlog::warn("kubernetes store: {}; relisting", std::string(watched.message()));
      need_list = true;  // the relist proves (or disproves) reachability
      continue;
    }
    if (!watched.ok()) {
      spdlog::warn("kubernetes store: watch failed: {}", watched.ToString());
      // A few quick re-watches, then prove reachability with a list.
      if (++failures >= 3) need_list = true;
      if (!SleepUnlessStopped(Backoff(failures))) return;
      continue;
    }
    Touch();  // the server ended the stream normally: everything was delivered
    failures = 0;
  }
}

void HeadCache::Touch() {
  absl::MutexLock lock(&mu_);
  last_contact_ = absl::Now();
}

bool HeadCache::FreshLocked() const {
  return synced_ && absl::Now() - last_contact_ <= absl::FromChrono(options_.max_staleness);
}

void HeadCache::NoteCorrupt(const json& object, const absl::Status& why) {
  std::string name = "<unnamed>";
  if (object.is_object()) {
    auto meta = object.find("metadata");
    if (meta != object.end() && meta->is_object()) {
      auto it = meta->find("name");
      if (it != meta->end() && it->is_string()) name = it->get<std::string>();
    }
  }
  absl::MutexLock lock(&mu_);
  if (corrupt_seen_.size() > 10000) corrupt_seen_.clear();
  if (!corrupt_seen_.insert(name).second) return;
  corrupt_records_.fetch_add(1);
  spdlog::error("kubernetes store: ConfigMap {} is not a readable worker head, skipped: {}",
                name, why.ToString());
}

absl::Status HeadCache::Relist() {
  const std::string base = absl::StrCat(
      "/api/v1/namespaces/", options_.namespace_name, "/configmaps?labelSelector=",
      UrlEncode(WorkerSelector()), "&limit=", options_.page_size);
  const RequestInfo info{"list", "configmaps", options_.namespace_name, ""};
  absl::flat_hash_map<std::string, HeadInfo> fresh;
  std::string list_rv;
  std::string cont;
  for (int restarts = 0;;) {
    std::string path = base;
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", UrlEncode(cont));
    auto page = client_->Call("GET", path, nullptr, "", info);
    if (!page.ok()) {
      if (page.status().code() != absl::StatusCode::kOutOfRange || ++restarts > 3) {
        return page.status();
      }
      cont.clear();  // the continue token expired: start over
      fresh.clear();
      continue;
    }
    // A list of the wrong shape (a proxy's page, a broken server) is an
    // error, never an exception.
    const json& body = *page;
    auto meta = body.is_object() ? body.find("metadata") : body.end();
    auto items = body.is_object() ? body.find("items") : body.end();
    if (meta == body.end() || !meta->is_object() ||
        (items != body.end() && !items->is_array() && !items->is_null())) {
      return absl::UnavailableError("kubernetes store: list answer is not a ConfigMapList");
    }
    auto text = [&](const char* key) {
      auto it = meta->find(key);
      return it != meta->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (cont.empty()) list_rv = text("resourceVersion");
    if (items != body.end() && items->is_array()) {
      for (const json& item : *items) {
        auto head = DecodeHead(item);
        if (!head.ok()) {
          NoteCorrupt(item, head.status());
          continue;
        }
        head->inline_table.reset();
        fresh[head->name] = std::move(*head);
      }
    }
    cont = text("continue");
    if (cont.empty()) break;
  }
  lists_.fetch_add(1);
  const uint64_t rv = std::strtoull(list_rv.c_str(), nullptr, 10);
  absl::ReleasableMutexLock lock(&mu_);
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
  last_contact_ = absl::Now();
  lock.Release();
  absl::MutexLock told(&listener_mu_);
  if (listener_ != nullptr) listener_->OnChangesLost("the head cache relisted");
  return absl::OkStatus();
}

void HeadCache::SetListener(ChangeListener* listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = listener;
}

absl::Status HeadCache::WatchOnce(bool* relist) {
  std::string rv;
  {
    absl::MutexLock lock(&mu_);
    rv = resource_version_;
  }
  // Ended by the server before the watchdog would fire on a quiet stream.
  const int64_t idle_s =
      std::chrono::duration_cast<std::chrono::seconds>(options_.idle_timeout).count();
  const int64_t timeout_s =
      std::max<int64_t>(1, std::min<int64_t>(options_.watch_timeout.count(), idle_s * 2 / 3));
  const std::string path = absl::StrCat(
      "/api/v1/namespaces/", options_.namespace_name,
      "/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=", UrlEncode(rv),
      "&timeoutSeconds=", timeout_s, "&labelSelector=", UrlEncode(WorkerSelector()));
  const RequestInfo info{"watch", "configmaps", options_.namespace_name, ""};
  watches_.fetch_add(1);
  absl::Status error;
  absl::Status ended = client_->Watch(
      path, info, std::chrono::seconds(timeout_s), options_.idle_timeout,
      [&](const json& line) {
        WatchEvent event = DecodeWatchEvent(line);
        if (event.type == WatchEvent::Type::kMalformed) {
          malformed_events_.fetch_add(1);
          spdlog::warn("kubernetes store: malformed watch event ({}); relisting", event.what);
          *relist = true;  // we may have missed a change: start from a list
          return false;
        }
        if (event.type == WatchEvent::Type::kError) {
          if (event.error_code == 410) {
            *relist = true;
          } else {
            error = StatusFromResponse(event.error_code, event.object.dump(), info);
          }
          return false;
        }
        if (event.type != WatchEvent::Type::kBookmark) OnObject(event);
        absl::MutexLock lock(&mu_);
        if (!event.resource_version.empty()) resource_version_ = event.resource_version;
        last_contact_ = absl::Now();
        return !stop_;
      },
      &canceller_);
  return ended.ok() ? error : ended;
}

void HeadCache::OnObject(const WatchEvent& event) {
  auto head = DecodeHead(event.object);
  if (!head.ok()) {
    NoteCorrupt(event.object, head.status());
    // A head that became unreadable is no longer listed.
    auto meta = event.object.find("metadata");
    auto name = meta->find("name");
    if (name != meta->end() && name->is_string()) {
      absl::MutexLock lock(&mu_);
      heads_.erase(name->get<std::string>());
    }
    absl::MutexLock told(&listener_mu_);
    if (listener_ != nullptr) listener_->OnChangesLost("a worker head became unreadable");
    return;
  }
  head->inline_table.reset();
  {
    absl::MutexLock lock(&mu_);
    if (event.type == WatchEvent::Type::kDeleted) {
      tombstones_.erase(head->name);
      auto it = heads_.find(head->name);
      if (it != heads_.end() && (head->rv == 0 || it->second.rv <= head->rv)) heads_.erase(it);
    } else {
      ApplyLocked(*head);
    }
  }
  absl::MutexLock told(&listener_mu_);
  if (listener_ != nullptr) listener_->OnWorkerChanged({head->ref.source_id, head->ref.worker_id}, std::nullopt);
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
  if (!FreshLocked()) {
    return absl::UnavailableError(absl::StrCat(
        "kubernetes store: cache not confirmed in sync for ",
        absl::FormatDuration(absl::Now() - last_contact_), " (watch silent or API server gone)"));
  }
  return absl::OkStatus();
}

bool HeadCache::synced() const {
  absl::ReaderMutexLock lock(&mu_);
  return FreshLocked();
}

std::optional<HeadInfo> HeadCache::Find(const std::string& name) {
  absl::ReaderMutexLock lock(&mu_);
  if (!FreshLocked()) return std::nullopt;
  auto it = heads_.find(name);
  if (it == heads_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<WorkerRef>> HeadCache::List(const ListQuery& query) {
  std::vector<WorkerRef> refs;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!FreshLocked()) {
      return absl::UnavailableError(
          "kubernetes store: cache not confirmed in sync with the API server");
    }
    for (const auto& [name, head] : heads_) {
      if (Matches(query, head.ref)) refs.push_back(head.ref);
    }
  }
  SortAndLimit(query, &refs);
  return refs;
}

}  // namespace mx::store::kube
