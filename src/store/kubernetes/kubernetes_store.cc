#include "store/kubernetes/kubernetes_store_impl.h"

#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "store/memory/memory_store.h"

namespace mx::store::kube {
namespace {

using nlohmann::json;
constexpr char kJson[] = "application/json";
constexpr char kMergePatch[] = "application/merge-patch+json";

bool SameKey(const HeadInfo& head, const WorkerKey& key) {
  return head.summary->source_id == key.source_id && head.summary->worker_id == key.worker_id;
}

bool Retryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kAborted || s.code() == absl::StatusCode::kAlreadyExists;
}

}  // namespace

KubernetesStore::KubernetesStore(KubernetesOptions options)
    : options_(std::move(options)),
      client_(std::make_unique<k8s::ApiClient>(k8s::ApiClientOptions{
          options_.api_url, options_.token_file, options_.token, options_.ca_file,
          options_.insecure_skip_tls_verify, options_.request_timeout, options_.connect_timeout,
          options_.max_attempts})),
      cache_(client_.get(), HeadCacheOptions{options_.namespace_name, options_.list_page_size,
                                             options_.watch_timeout}) {}

KubernetesStore::~KubernetesStore() { cache_.Stop(); }

absl::StatusOr<int64_t> KubernetesStore::NowMs() { return SystemClockMs(); }

std::string KubernetesStore::Path(const std::string& name) const {
  std::string path = absl::StrCat("/api/v1/namespaces/", options_.namespace_name, "/configmaps");
  if (!name.empty()) absl::StrAppend(&path, "/", name);
  return path;
}

k8s::RequestInfo KubernetesStore::Info(const char* verb, const std::string& name) const {
  return {verb, "configmaps", options_.namespace_name, name};
}

void KubernetesStore::Backoff(int attempt) {
  // Uniform in (0, cap]: losers of a race spread out instead of colliding again.
  const int cap = std::min(200, 5 << std::min(attempt, 6));
  std::this_thread::sleep_for(Jittered(std::chrono::milliseconds(cap / 2), 1.0));
}

absl::StatusOr<KubernetesStore::Current> KubernetesStore::CurrentHead(const std::string& name,
                                                                      bool use_cache) {
  if (use_cache && cache_.synced()) {
    // A miss is a guess too: a create then fails with AlreadyExists, an
    // update re-reads, so neither costs a GET in the common case.
    return Current{cache_.Find(name), true};
  }
  auto object = client_->Call("GET", Path(name), nullptr, "", Info("get", name));
  if (object.status().code() == absl::StatusCode::kNotFound) return Current{};
  if (!object.ok()) return object.status();
  auto head = DecodeHead(*object);
  if (!head.ok()) return head.status();
  return Current{std::move(*head), false};
}

absl::Status KubernetesStore::Start() {
  auto probe = client_->Call(
      "GET", absl::StrCat(Path(), "?limit=1&labelSelector=", k8s::UrlEncode(WorkerSelector())),
      nullptr, "", Info("list"));
  if (!probe.ok()) {
    return absl::Status(probe.status().code(),
                        absl::StrCat("kubernetes store cannot start: ", probe.status().message()));
  }
  cache_.Start();
  return cache_.WaitSynced(absl::FromChrono(options_.sync_timeout));
}

absl::StatusOr<ChunkManifest> KubernetesStore::WriteChunks(const std::string& head,
                                                           const std::string& uid,
                                                           const std::string& table) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  ChunkManifest manifest;
  manifest.generation = absl::StrCat(absl::Hex(rng() & 0xffffffffULL, absl::kZeroPad8));
  manifest.sha256 = Sha256Hex(table);
  const size_t step = std::max<size_t>(1, options_.chunk_bytes);
  for (size_t offset = 0; offset < table.size(); offset += step, ++manifest.count) {
    const json chunk = BuildChunk(head, uid, manifest.generation, manifest.count,
                                  table.substr(offset, step));
    auto created = client_->Call("POST", Path(), &chunk, kJson,
                                 Info("create", ChunkName(head, manifest.generation,
                                                          manifest.count)));
    if (!created.ok()) {
      DeleteChunks(head, manifest);
      return created.status();
    }
  }
  return manifest;
}

void KubernetesStore::DeleteChunks(const std::string& head, const ChunkManifest& manifest) {
  // Best effort: leftovers are owned by the head and go with it.
  for (int i = 0; i < manifest.count; ++i) {
    const std::string name = ChunkName(head, manifest.generation, i);
    (void)client_->Call("DELETE", Path(name), nullptr, "", Info("delete", name));
  }
}

absl::StatusOr<std::string> KubernetesStore::ReadTable(const HeadInfo& head) {
  if (head.inline_table) return *head.inline_table;
  if (!head.chunks) return absl::DataLossError("worker head has no table");
  const std::string selector = absl::StrCat(kHeadKey, "=", head.name, ",", kGenerationKey, "=",
                                            head.chunks->generation);
  std::vector<json> chunks;
  std::string cont;
  do {
    std::string path = absl::StrCat(Path(), "?labelSelector=", k8s::UrlEncode(selector),
                                    "&limit=8");
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", k8s::UrlEncode(cont));
    auto page = client_->Call("GET", path, nullptr, "", Info("list"));
    if (!page.ok()) return page.status();
    for (auto& item : (*page)["items"]) chunks.push_back(std::move(item));
    cont = (*page)["metadata"].value("continue", "");
  } while (!cont.empty());
  return JoinChunks(chunks, *head.chunks);
}

absl::StatusOr<WorkerState> KubernetesStore::Upsert(std::shared_ptr<const WorkerRecord> record,
                                                    const UpsertOptions& options) {
  if (record == nullptr) return absl::InvalidArgumentError("null record");
  const WorkerKey key{record->source_id, record->worker_id};
  const std::string name = HeadName(key);
  model_express::p2p::WorkerMetadata table = record->worker;
  table.clear_status();
  table.clear_updated_at();
  const std::string compressed = EncodeTable(table);
  const bool chunked = compressed.size() > options_.inline_table_max_bytes;
  const bool own_pod = !record->pod_name.empty() && !record->pod_uid.empty() &&
                       record->pod_namespace == options_.namespace_name;
  std::optional<ChunkManifest> written;
  std::string written_for;  // uid of the head the chunks belong to
  for (int attempt = 0; attempt < options_.conflict_retries; ++attempt) {
    if (attempt > 1) Backoff(attempt);  // attempt 1 only corrects a cache guess
    auto current = CurrentHead(name, attempt == 0);
    if (!current.ok()) return current.status();
    std::optional<HeadInfo>& head = current->head;
    if (head && !SameKey(*head, key)) return absl::InternalError("head name collision");
    if (head && !head->pending && options.required_owner &&
        head->summary->owner != *options.required_owner) {
      if (current->from_cache) continue;
      return absl::PermissionDeniedError("worker is owned by another principal");
    }
    if (chunked && !head) {
      // The chunks need an owner uid before the record exists: a pending
      // head (not listed, not readable) takes that role until switched on.
      HeadSpec spec{name, "", record.get(), {}, /*pending=*/true, own_pod};
      const json object = BuildHead(spec);
      auto created = client_->Call("POST", Path(), &object, kJson, Info("create", name));
      if (Retryable(created.status())) continue;
      if (!created.ok()) return created.status();
      auto decoded = DecodeHead(*created);
      if (!decoded.ok()) return decoded.status();
      head = std::move(*decoded);
    }
    if (chunked && (!written || written_for != head->uid)) {
      if (written) DeleteChunks(name, *written);
      auto manifest = WriteChunks(name, head->uid, compressed);
      if (Retryable(manifest.status())) continue;
      if (!manifest.ok()) return manifest.status();
      written = std::move(*manifest);
      written_for = head->uid;
    }
    const WorkerState state{options.status,
                            std::max(SystemClockMs(), head ? head->state.updated_at_ms : 0)};
    HeadSpec spec{name, head ? head->resource_version : "", record.get(), state, false, own_pod};
    if (chunked) {
      spec.chunks = written;
    } else {
      spec.inline_table = compressed;
    }
    const json object = BuildHead(spec);
    auto result = head ? client_->Call("PUT", Path(name), &object, kJson, Info("update", name))
                       : client_->Call("POST", Path(), &object, kJson, Info("create", name));
    if (Retryable(result.status()) || result.status().code() == absl::StatusCode::kNotFound) {
      continue;
    }
    if (!result.ok()) return result.status();
    if (auto applied = DecodeHead(*result); applied.ok()) cache_.Apply(*applied);
    if (head && head->chunks && (!written || head->chunks->generation != written->generation)) {
      DeleteChunks(name, *head->chunks);  // after the switch: no reader needs them now
    }
    return state;
  }
  if (written) DeleteChunks(name, *written);
  return absl::AbortedError(absl::StrCat("kubernetes store: too many conflicting writes to ", name));
}

absl::StatusOr<StoredWorker> KubernetesStore::Get(const WorkerKey& key) {
  const std::string name = HeadName(key);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto object = client_->Call("GET", Path(name), nullptr, "", Info("get", name));
    if (!object.ok()) return object.status();
    auto head = DecodeHead(*object);
    if (!head.ok()) return head.status();
    if (!SameKey(*head, key) || head->pending) return absl::NotFoundError("worker not found");
    auto table = ReadTable(*head);
    if (table.status().code() == absl::StatusCode::kFailedPrecondition) continue;  // switched
    if (!table.ok()) return table.status();
    auto worker = DecodeTable(*table);
    if (!worker.ok()) return worker.status();
    auto record = std::make_shared<WorkerRecord>(*head->summary);
    record->worker = std::move(*worker);
    cache_.Apply(*head);
    return StoredWorker{std::move(record), head->state};
  }
  return absl::UnavailableError("kubernetes store: tensor table kept changing while read");
}

absl::StatusOr<std::vector<WorkerRef>> KubernetesStore::List(const ListQuery& query) {
  return cache_.List(query);
}

absl::StatusOr<WorkerState> KubernetesStore::UpdateStatus(const WorkerKey& key,
                                                          const StatusUpdate& update) {
  const std::string name = HeadName(key);
  for (int attempt = 0; attempt < options_.conflict_retries; ++attempt) {
    if (attempt > 1) Backoff(attempt);
    auto current = CurrentHead(name, attempt == 0);
    if (!current.ok()) return current.status();
    const bool cached = current->from_cache;
    const std::optional<HeadInfo>& head = current->head;
    if (!head || head->pending || !SameKey(*head, key) ||
        (update.rank && *update.rank != head->ref.worker_rank)) {
      if (cached) continue;
      return absl::NotFoundError("worker not found");
    }
    if (update.required_owner && head->summary->owner != *update.required_owner) {
      if (cached) continue;
      return absl::PermissionDeniedError("worker is owned by another principal");
    }
    if (update.expected && !(*update.expected == head->state)) {
      if (cached) continue;
      return absl::FailedPreconditionError("worker state changed");
    }
    const WorkerState state{update.status, std::max(SystemClockMs(), head->state.updated_at_ms),
                            update.source_load};
    const json patch = StatusPatch(head->resource_version, state);
    auto result = client_->Call("PATCH", Path(name), &patch, kMergePatch, Info("patch", name));
    if (Retryable(result.status())) continue;
    if (!result.ok()) return result.status();
    if (auto applied = DecodeHead(*result); applied.ok()) cache_.Apply(*applied);
    return state;
  }
  return absl::AbortedError(absl::StrCat("kubernetes store: too many conflicting writes to ", name));
}

absl::Status KubernetesStore::Remove(const WorkerKey& key,
                                     const std::optional<WorkerState>& expected) {
  const std::string name = HeadName(key);
  for (int attempt = 0; attempt < options_.conflict_retries; ++attempt) {
    if (attempt > 1) Backoff(attempt);
    auto current = CurrentHead(name, attempt == 0);
    if (!current.ok()) return current.status();
    const bool cached = current->from_cache;
    const std::optional<HeadInfo>& head = current->head;
    if (!head || head->pending || !SameKey(*head, key)) {
      if (cached) continue;
      return absl::NotFoundError("worker not found");
    }
    if (expected && !(*expected == head->state)) {
      if (cached) continue;
      return absl::FailedPreconditionError("worker state changed");
    }
    // Chunks are owned by the head: the garbage collector removes them.
    const json options = {{"apiVersion", "v1"},
                          {"kind", "DeleteOptions"},
                          {"propagationPolicy", "Background"},
                          {"preconditions", {{"resourceVersion", head->resource_version}}}};
    auto result = client_->Call("DELETE", Path(name), &options, kJson, Info("delete", name));
    if (Retryable(result.status())) continue;
    if (!result.ok()) return result.status();
    cache_.Erase(name, head->rv);
    return absl::OkStatus();
  }
  return absl::AbortedError(absl::StrCat("kubernetes store: too many conflicting writes to ", name));
}

}  // namespace mx::store::kube
