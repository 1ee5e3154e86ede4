// The Kubernetes refit store: connection, object I/O, the compare-and-set
// loop, listings and retention. The RPC steps are in refit_kubernetes_calls.cc.
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "store/kubernetes/object_codec.h"
#include "store/kubernetes/refit_kubernetes_store_impl.h"
#include "store/refit_ids.h"

namespace mx::store {
namespace kube {
namespace {

using nlohmann::json;
constexpr char kJson[] = "application/json";
constexpr int kMaxUidAttempts = 5;
constexpr int64_t kSweepEveryMs = 10000;
constexpr int kMaxListPages = 10000;
// A name no refit object has (theirs start mxr-v-, mxr-k- or mxr-w-).
constexpr char kProbeName[] = "mxr-health-probe";
// How long the outcome of an API request stands for the store's health:
// a success 30 s, a failure 1 s (recovery shows within a second).
constexpr int64_t kHealthyForMs = 30000;
constexpr int64_t kUnhealthyForMs = 1000;

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether two objects hold the same document (an ambiguous write landed).
bool SameDoc(const json& a, const json& b) {
  const json none;
  const json& da = a.contains("binaryData") ? a["binaryData"] : none;
  const json& db = b.contains("binaryData") ? b["binaryData"] : none;
  return da.is_object() && da == db;
}

json DeleteOptions(const std::string& resource_version) {
  return {{"apiVersion", "v1"},
          {"kind", "DeleteOptions"},
          {"preconditions", {{"resourceVersion", resource_version}}}};
}

bool HasLiveLease(const RefitVersionObject& v, int64_t now) {
  for (const auto& [worker, lease] : v.leases) {
    if (lease.expires_ms > now) return true;
  }
  return false;
}

}  // namespace

RefitKubernetesStore::RefitKubernetesStore(RefitKubernetesOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : WallClockMs),
      new_uid_(options_.new_uid ? options_.new_uid : RandomRefitUid),
      client_(std::make_unique<ApiClient>(ApiClientOptions{
          options_.api.api_url, options_.api.token_file, options_.api.token,
          options_.api.ca_file, options_.api.insecure_skip_tls_verify,
          options_.api.request_timeout, options_.api.connect_timeout,
          options_.api.max_attempts})) {}

Backoff RefitKubernetesStore::CasBackoff() {
  return Backoff(std::chrono::milliseconds(5), std::chrono::milliseconds(200), 2.0, 1.0);
}

std::string RefitKubernetesStore::Path(const std::string& name) const {
  std::string path =
      absl::StrCat("/api/v1/namespaces/", options_.api.namespace_name, "/configmaps");
  if (!name.empty()) absl::StrAppend(&path, "/", name);
  return path;
}

RequestInfo RefitKubernetesStore::Info(const char* verb, const std::string& name) const {
  return {verb, "configmaps", options_.api.namespace_name, name};
}

void RefitKubernetesStore::Note(const absl::Status& status) {
  // Answers about objects (404, 409, 422) say the API server works.
  const bool down = status.code() == absl::StatusCode::kUnavailable ||
                    status.code() == absl::StatusCode::kDeadlineExceeded;
  absl::MutexLock lock(&health_mu_);
  health_ = down ? status : absl::OkStatus();
  health_at_ = std::chrono::steady_clock::now();
  health_known_ = true;
}

absl::Status RefitKubernetesStore::Probe() {
  auto object = Read(kProbeName);  // Read notes the outcome
  return object.status();
}

absl::Status RefitKubernetesStore::CheckHealth() {
  {
    absl::MutexLock lock(&health_mu_);
    const auto fresh = std::chrono::milliseconds(health_.ok() ? kHealthyForMs : kUnhealthyForMs);
    if (health_known_ && std::chrono::steady_clock::now() - health_at_ < fresh) return health_;
  }
  (void)Probe();
  absl::MutexLock lock(&health_mu_);
  return health_;
}

absl::Status RefitKubernetesStore::Start() {
  absl::Status probe = Probe();
  if (probe.ok()) return probe;
  return absl::Status(probe.code(),
                      absl::StrCat("kubernetes refit store cannot start: ", probe.message()));
}

absl::StatusOr<std::optional<json>> RefitKubernetesStore::Read(const std::string& name) {
  auto object = client_->Call("GET", Path(name), nullptr, "", Info("get", name));
  Note(object.status());
  if (object.status().code() == absl::StatusCode::kNotFound) return std::optional<json>();
  if (!object.ok()) return object.status();
  return std::optional<json>(std::move(*object));
}

absl::Status RefitKubernetesStore::Write(const std::string& name, const json& object,
                                         bool replace) {
  CallTrace trace;
  auto result = replace
                    ? client_->Call("PUT", Path(name), &object, kJson, Info("update", name), &trace)
                    : client_->Call("POST", Path(), &object, kJson, Info("create", name), &trace);
  Note(result.status());
  if (result.ok()) return absl::OkStatus();
  if (trace.ambiguous) {
    // An attempt that timed out may have been applied, and its retry then
    // met our own write (409). The document tells: every write of a call
    // carries fresh content (a new stamp, a changed record).
    auto now = Read(name);
    if (now.ok() && now->has_value() && SameDoc(**now, object)) return absl::OkStatus();
  }
  switch (result.status().code()) {
    case absl::StatusCode::kAborted:        // resourceVersion conflict
    case absl::StatusCode::kAlreadyExists:  // created meanwhile
    case absl::StatusCode::kNotFound:       // deleted meanwhile
      return absl::AbortedError(absl::StrCat("lost a race writing ", name));
    default:
      return result.status();
  }
}

absl::Status RefitKubernetesStore::Delete(const std::string& name,
                                          const std::string& resource_version) {
  const json body = DeleteOptions(resource_version);
  absl::Status status =
      client_->Call("DELETE", Path(name), &body, kJson, Info("delete", name)).status();
  Note(status);
  return status;
}

absl::StatusOr<std::vector<json>> RefitKubernetesStore::List(const char* role) {
  std::vector<json> items;
  std::string cont;
  for (int page = 0; page < kMaxListPages; ++page) {
    std::string path = absl::StrCat(Path(), "?labelSelector=", UrlEncode(RefitSelector(role)),
                                    "&limit=", options_.api.list_page_size);
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", UrlEncode(cont));
    auto reply = client_->Call("GET", path, nullptr, "", Info("list"));
    Note(reply.status());
    if (!reply.ok()) return reply.status();
    const json list_items = reply->value("items", json::array());
    if (list_items.is_array()) {
      for (const json& item : list_items) items.push_back(item);
    }
    const json meta = reply->value("metadata", json::object());
    cont = meta.is_object() ? meta.value("continue", "") : "";
    if (cont.empty()) return items;
  }
  return absl::ResourceExhaustedError("kubernetes refit store: too many list pages");
}

absl::StatusOr<std::optional<RefitVersionObject>> RefitKubernetesStore::ReadVersion(
    const std::string& uid, int64_t now, bool* purged) {
  auto object = Read(RefitVersionName(uid));
  if (!object.ok()) return object.status();
  if (!object->has_value()) return std::optional<RefitVersionObject>();
  auto v = DecodeRefitVersion(**object);
  if (!v.ok()) return v.status();
  // A hashed name of a uid we never issued cannot hold another uid, but check.
  if (v->record.uid() != uid) return std::optional<RefitVersionObject>();
  if (Purgeable(*v, now)) {
    Purge(*v);
    if (purged != nullptr) *purged = true;
    return std::optional<RefitVersionObject>();
  }
  return std::optional<RefitVersionObject>(std::move(*v));
}

absl::StatusOr<std::optional<refit_pb::WorkerRegistration>> RefitKubernetesStore::LiveWorker(
    const std::string& worker_id, int64_t now) {
  auto object = Read(RefitWorkerName(worker_id));
  if (!object.ok()) return object.status();
  std::optional<refit_pb::WorkerRegistration> none;
  if (!object->has_value()) return none;
  auto w = DecodeRefitWorker(**object);
  if (!w.ok()) return w.status();
  if (w->worker.worker_id() != worker_id) return none;
  if (static_cast<int64_t>(w->worker.expires_at_unix_ms()) <= now) return none;
  return std::optional<refit_pb::WorkerRegistration>(std::move(w->worker));
}

absl::Status RefitKubernetesStore::UpdateVersion(const std::string& uid, const VersionStep& step) {
  const std::string name = RefitVersionName(uid);
  Backoff backoff = CasBackoff();
  for (int attempt = 0; attempt < options_.cas_attempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(backoff.Next());
    const int64_t now = Now();
    auto current = ReadVersion(uid, now);
    if (!current.ok()) return current.status();
    RefitVersionObject* v = current->has_value() ? &**current : nullptr;
    auto decision = step(v, now);
    if (!decision.ok()) return decision.status();
    if (*decision == Step::kKeep) return absl::OkStatus();
    // Expired leases go; their ids stay in lease_ids (never reused).
    for (auto it = v->leases.begin(); it != v->leases.end();) {
      it = it->second.expires_ms <= now ? v->leases.erase(it) : std::next(it);
    }
    absl::Status written = Write(name, BuildRefitVersion(*v), /*replace=*/true);
    if (written.code() == absl::StatusCode::kAborted) continue;
    return written;
  }
  return absl::AbortedError(
      absl::StrCat("kubernetes refit store: too many conflicting writes to ", name));
}

absl::StatusOr<std::string> RefitKubernetesStore::FreshUid() {
  for (int attempt = 0; attempt < kMaxUidAttempts; ++attempt) {
    std::string uid = new_uid_();
    auto taken = Read(RefitVersionName(uid));
    if (!taken.ok()) return taken.status();
    if (!taken->has_value()) return uid;
  }
  return absl::ResourceExhaustedError("no free version uid after 5 attempts");
}

bool RefitKubernetesStore::Purgeable(const RefitVersionObject& v, int64_t now) const {
  return options_.retention_ms > 0 &&
         v.record.state() == refit_pb::WEIGHT_VERSION_STATE_RELEASING && v.shards.empty() &&
         !HasLiveLease(v, now) && now - v.released_ms >= options_.retention_ms;
}

void RefitKubernetesStore::Purge(const RefitVersionObject& v) {
  // The idempotency record first: a version without one is only unreachable
  // by replay (and the next sweep takes it), while a record without its
  // version would be re-materialized by a replay.
  const std::string request_name =
      RefitRequestName(v.record.model_name(), v.record.idempotency_key());
  auto request = Read(request_name);
  if (!request.ok()) return;
  if (request->has_value()) {
    auto r = DecodeRefitRequest(**request);
    if (r.ok() && r->version_uid == v.record.uid()) {
      absl::Status gone = Delete(request_name, r->resource_version);
      if (!gone.ok() && gone.code() != absl::StatusCode::kNotFound) return;
    }
  }
  absl::Status gone = Delete(RefitVersionName(v.record.uid()), v.resource_version);
  if (!gone.ok() && gone.code() != absl::StatusCode::kNotFound) {
    spdlog::debug("refit retention: {} not purged yet: {}", v.record.uid(), gone.ToString());
  }
}

void RefitKubernetesStore::MaybeSweep(const std::vector<RefitVersionObject>& versions,
                                      const std::vector<json>& workers, int64_t now) {
  {
    absl::MutexLock lock(&sweep_mu_);
    if (now < next_sweep_ms_) return;
    next_sweep_ms_ = now + kSweepEveryMs;
  }
  for (const RefitVersionObject& v : versions) {
    if (Purgeable(v, now)) Purge(v);
  }
  // Expired registrations (the precondition spares one renewed meanwhile).
  for (const json& object : workers) {
    auto w = DecodeRefitWorker(object);
    if (w.ok() && static_cast<int64_t>(w->worker.expires_at_unix_ms()) <= now) {
      (void)Delete(RefitWorkerName(w->worker.worker_id()), w->resource_version);
    }
  }
}

absl::StatusOr<RefitKubernetesStore::Listing> RefitKubernetesStore::ListAll(int64_t now) {
  auto versions = List(kRefitVersionRole);
  if (!versions.ok()) return versions.status();
  auto workers = List(kRefitWorkerRole);
  if (!workers.ok()) return workers.status();
  Listing out;
  std::vector<RefitVersionObject> all;
  for (const json& object : *versions) {
    auto v = DecodeRefitVersion(object);
    if (!v.ok()) {
      spdlog::warn("refit listing skips an undecodable object: {}", v.status().ToString());
      continue;
    }
    if (!Purgeable(*v, now)) out.versions.push_back(*v);
    all.push_back(std::move(*v));
  }
  for (const json& object : *workers) {
    auto w = DecodeRefitWorker(object);
    if (w.ok()) out.workers.push_back(std::move(w->worker));
  }
  MaybeSweep(all, *workers, now);
  return out;
}

absl::StatusOr<RefitCounts> RefitKubernetesStore::Counts() {
  const int64_t now = Now();
  auto listing = ListAll(now);
  if (!listing.ok()) return listing.status();
  RefitCounts counts;
  for (const RefitVersionObject& v : listing->versions) {
    switch (v.record.state()) {
      case refit_pb::WEIGHT_VERSION_STATE_STAGING: ++counts.staging; break;
      case refit_pb::WEIGHT_VERSION_STATE_READY: ++counts.ready; break;
      default: ++counts.releasing; break;
    }
    for (const auto& [worker, lease] : v.leases) counts.live_leases += lease.expires_ms > now;
  }
  for (const auto& w : listing->workers) {
    counts.live_workers += static_cast<int64_t>(w.expires_at_unix_ms()) > now;
  }
  return counts;
}

absl::StatusOr<RefitSnapshot> RefitKubernetesStore::Snapshot() {
  const int64_t now = Now();
  auto listing = ListAll(now);
  if (!listing.ok()) return listing.status();
  RefitSnapshot snapshot;
  for (const RefitVersionObject& v : listing->versions) {
    snapshot.versions.push_back(v.record);
    for (const auto& [worker, lease] : v.leases) {
      if (lease.expires_ms <= now) continue;
      refit_pb::VersionLease& out = snapshot.leases.emplace_back();
      out.set_lease_id(lease.id);
      out.set_version_id(v.record.uid());
      out.set_worker_id(worker);
      out.set_expires_at_unix_ms(static_cast<uint64_t>(lease.expires_ms));
    }
  }
  std::sort(snapshot.versions.begin(), snapshot.versions.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.created_at_unix_ms(), a.uid()) <
           std::make_pair(b.created_at_unix_ms(), b.uid());
  });
  std::sort(snapshot.leases.begin(), snapshot.leases.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.version_id(), a.worker_id()) <
           std::make_pair(b.version_id(), b.worker_id());
  });
  for (const auto& w : listing->workers) {
    if (static_cast<int64_t>(w.expires_at_unix_ms()) > now) snapshot.workers.push_back(w);
  }
  std::sort(snapshot.workers.begin(), snapshot.workers.end(),
            [](const auto& a, const auto& b) { return a.worker_id() < b.worker_id(); });
  return snapshot;
}

}  // namespace kube

absl::StatusOr<std::unique_ptr<RefitStore>> ConnectRefitKubernetesStore(
    const RefitKubernetesOptions& options) {
  if (options.api.api_url.empty()) {
    return absl::FailedPreconditionError(
        "kubernetes refit store: no API URL (pass --k8s-api-url, or run in a pod)");
  }
  if (!kube::IsDns1123Label(options.api.namespace_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubernetes refit store: namespace '", options.api.namespace_name,
                     "' is not a valid DNS-1123 label"));
  }
  auto store = std::make_unique<kube::RefitKubernetesStore>(options);
  if (absl::Status started = store->Start(); !started.ok()) return started;
  return std::unique_ptr<RefitStore>(std::move(store));
}

}  // namespace mx::store
