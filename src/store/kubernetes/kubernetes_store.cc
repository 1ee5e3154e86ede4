#include "store/kubernetes/kubernetes_store_impl.h"

#include <random>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "store/memory/memory_store.h"
#include "store/stamp.h"

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

// Whether `got` is exactly what a write of `spec` produced: same state
// (updated_at is this call's own millisecond stamp) and same table.
bool IsOurHead(const HeadInfo& got, const HeadSpec& spec) {
  if (got.pending || !(got.state == spec.state)) return false;
  if (spec.chunks) {
    return got.chunks && got.chunks->generation == spec.chunks->generation &&
           got.chunks->sha256 == spec.chunks->sha256 && got.chunks->count == spec.chunks->count;
  }
  return got.inline_table && spec.inline_table && *got.inline_table == *spec.inline_table;
}

std::string RandomGeneration() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(absl::Hex(rng() & 0xffffffffULL, absl::kZeroPad8));
}

}  // namespace

KubernetesStore::KubernetesStore(KubernetesOptions options)
    : options_(std::move(options)),
      client_(std::make_unique<ApiClient>(ApiClientOptions{
          options_.api_url, options_.token_file, options_.token, options_.ca_file,
          options_.insecure_skip_tls_verify, options_.request_timeout, options_.connect_timeout,
          options_.max_attempts})),
      cache_(client_.get(),
             HeadCacheOptions{options_.namespace_name, options_.list_page_size,
                              options_.watch_timeout, options_.watch_idle_timeout,
                              options_.max_staleness}),
      sweeper_(client_.get(), options_.namespace_name, absl::FromChrono(options_.sweep_interval),
               absl::FromChrono(options_.sweep_grace)) {}

KubernetesStore::~KubernetesStore() {
  sweeper_.Stop();
  cache_.Stop();
}

absl::StatusOr<int64_t> KubernetesStore::NowMs() { return SystemClockMs(); }

std::string KubernetesStore::Path(const std::string& name) const {
  std::string path = absl::StrCat("/api/v1/namespaces/", options_.namespace_name, "/configmaps");
  if (!name.empty()) absl::StrAppend(&path, "/", name);
  return path;
}

RequestInfo KubernetesStore::Info(const char* verb, const std::string& name) const {
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
      "GET", absl::StrCat(Path(), "?limit=1&labelSelector=", UrlEncode(WorkerSelector())),
      nullptr, "", Info("list"));
  if (!probe.ok()) {
    return absl::Status(probe.status().code(),
                        absl::StrCat("kubernetes store cannot start: ", probe.status().message()));
  }
  cache_.Start();
  absl::Status synced = cache_.WaitSynced(absl::FromChrono(options_.sync_timeout));
  if (synced.ok()) sweeper_.Start();
  return synced;
}

absl::StatusOr<ChunkManifest> KubernetesStore::WriteChunks(const std::string& head,
                                                           const std::string& uid,
                                                           const std::string& table) {
  ChunkManifest manifest;
  manifest.sha256 = Sha256Hex(table);
  manifest.generation = manifest.sha256.substr(0, 8);
  const size_t step = std::max<size_t>(1, options_.chunk_bytes);
  for (int round = 0; round < 2; ++round) {
    manifest.count = 0;
    bool foreign = false;  // the name is taken by something that is not ours
    for (size_t offset = 0; offset < table.size(); offset += step, ++manifest.count) {
      const std::string data = table.substr(offset, step);
      const std::string name = ChunkName(head, manifest.generation, manifest.count);
      const json chunk = BuildChunk(head, uid, manifest.generation, manifest.count, data);
      auto created = client_->Call("POST", Path(), &chunk, kJson, Info("create", name));
      if (created.status().code() == absl::StatusCode::kAlreadyExists) {
        // Our own timed-out POST, or a failed attempt's chunk: keep it.
        auto ours = ChunkIsOurs(name, uid, data);
        if (ours.ok() && *ours) continue;
        if (ours.ok()) {
          foreign = true;
          break;
        }
        created = ours.status();
      }
      if (!created.ok()) {
        ++manifest.count;  // this one may exist too (a timed-out create)
        DeleteChunks(head, manifest);
        return created.status();
      }
    }
    if (!foreign) return manifest;
    DeleteChunks(head, manifest);  // what this round made or adopted
    manifest.generation = RandomGeneration();
  }
  return absl::AbortedError("kubernetes store: chunk names taken by foreign ConfigMaps");
}

absl::StatusOr<bool> KubernetesStore::ChunkIsOurs(const std::string& name, const std::string& uid,
                                                  const std::string& data) {
  auto object = client_->Call("GET", Path(name), nullptr, "", Info("get", name));
  if (object.status().code() == absl::StatusCode::kNotFound) return false;
  if (!object.ok()) return object.status();
  const json& o = *object;
  if (!o.is_object()) return false;
  auto meta = o.find("metadata");
  if (meta == o.end() || !meta->is_object()) return false;
  auto owners = meta->find("ownerReferences");
  if (owners == meta->end() || !owners->is_array() || owners->size() != 1) return false;
  const json& owner = (*owners)[0];
  if (!owner.is_object() || owner.value("uid", json()) != json(uid)) return false;
  auto binary = o.find("binaryData");
  if (binary == o.end() || !binary->is_object()) return false;
  auto encoded = binary->find("data");
  std::string bytes;
  if (encoded == binary->end() || !encoded->is_string() ||
      !absl::Base64Unescape(encoded->get<std::string>(), &bytes) || bytes != data) {
    return false;
  }
  // Older than half the sweep grace: a sweeper may be deleting it now.
  const absl::Time created = CreationTime(o).value_or(absl::InfinitePast());
  return absl::Now() - created < absl::FromChrono(options_.sweep_grace) / 2;
}

void KubernetesStore::DeleteChunks(const std::string& head, const ChunkManifest& manifest) {
  // Best effort: what a failure leaves, the sweeper removes after its grace.
  for (int i = 0; i < manifest.count; ++i) {
    const std::string name = ChunkName(head, manifest.generation, i);
    (void)client_->Call("DELETE", Path(name), nullptr, "", Info("delete", name));
  }
}

void KubernetesStore::DeletePending(const std::string& name, const std::string& uid,
                                    const std::string& rv) {
  const json options = {{"apiVersion", "v1"},
                        {"kind", "DeleteOptions"},
                        {"propagationPolicy", "Background"},
                        {"preconditions", {{"uid", uid}, {"resourceVersion", rv}}}};
  (void)client_->Call("DELETE", Path(name), &options, kJson, Info("delete", name));
}

absl::StatusOr<std::optional<HeadInfo>> KubernetesStore::ReadBack(const std::string& name) {
  auto object = client_->Call("GET", Path(name), nullptr, "", Info("get", name));
  if (object.status().code() == absl::StatusCode::kNotFound) return std::optional<HeadInfo>();
  if (!object.ok()) return object.status();
  auto head = DecodeHead(*object);
  if (!head.ok()) return head.status();
  return std::optional<HeadInfo>(std::move(*head));
}

absl::StatusOr<std::string> KubernetesStore::ReadTable(const HeadInfo& head) {
  if (head.inline_table) return *head.inline_table;
  if (!head.chunks) return absl::DataLossError("worker head has no table");
  const std::string selector = absl::StrCat(kHeadKey, "=", head.name, ",", kGenerationKey, "=",
                                            head.chunks->generation);
  auto chunks = client_->ListAll(Path(), selector, 8, Info("list"));
  if (!chunks.ok()) return chunks.status();
  return JoinChunks(*chunks, *head.chunks);
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
  const std::string table_sha = chunked ? Sha256Hex(compressed) : "";
  const bool own_pod = !record->pod_name.empty() && !record->pod_uid.empty() &&
                       record->pod_namespace == options_.namespace_name;
  std::optional<ChunkManifest> written;  // chunks this call wrote (or adopted)
  std::string written_for;               // uid of the head they belong to
  std::optional<HeadInfo> pending_made;  // a pending head this call created
  bool unsure = false;  // a head write may have landed: leave its chunks to the sweeper
  // Every way out but success removes what this call wrote.
  auto give_up = [&](absl::Status status) -> absl::Status {
    if (!unsure) {
      if (written) DeleteChunks(name, *written);
      if (pending_made) DeletePending(name, pending_made->uid, pending_made->resource_version);
    }
    return status;
  };
  for (int attempt = 0; attempt < options_.conflict_retries; ++attempt) {
    if (attempt > 1) Backoff(attempt);  // attempt 1 only corrects a cache guess
    auto current = CurrentHead(name, attempt == 0);
    if (!current.ok()) return give_up(current.status());
    std::optional<HeadInfo>& head = current->head;
    if (head && !SameKey(*head, key)) return give_up(absl::InternalError("head name collision"));
    if (head && !head->pending && options.required_owner &&
        head->summary->owner != *options.required_owner) {
      if (current->from_cache) continue;
      return give_up(absl::PermissionDeniedError("worker is owned by another principal"));
    }
    if (chunked && !head) {
      // The chunks need an owner uid before the record exists: a pending
      // head (not listed, not readable) takes that role until switched on.
      HeadSpec spec{name, "", record.get(), {}, /*pending=*/true, own_pod};
      const json object = BuildHead(spec);
      auto created = client_->Call("POST", Path(), &object, kJson, Info("create", name));
      if (Retryable(created.status())) continue;  // the re-read finds it (ours or not)
      if (!created.ok()) return give_up(created.status());
      auto decoded = DecodeHead(*created);
      if (!decoded.ok()) return give_up(decoded.status());
      head = std::move(*decoded);
      pending_made = head;
    }
    // The head already points at this very table: nothing to write.
    const bool same_table = chunked && head && !head->pending && head->chunks &&
                            head->chunks->sha256 == table_sha;
    if (chunked && !same_table && (!written || written_for != head->uid)) {
      if (written) DeleteChunks(name, *written);
      written.reset();
      auto manifest = WriteChunks(name, head->uid, compressed);
      if (Retryable(manifest.status())) continue;
      if (!manifest.ok()) return give_up(manifest.status());
      written = std::move(*manifest);
      written_for = head->uid;
    }
    const WorkerState state{options.status,
                            NextStamp(SystemClockMs(), head ? head->state.updated_at_ms : 0)};
    HeadSpec spec{name, head ? head->resource_version : "", record.get(), state, false, own_pod};
    if (chunked) {
      spec.chunks = same_table ? head->chunks : written;
    } else {
      spec.inline_table = compressed;
    }
    const json object = BuildHead(spec);
    CallTrace trace;
    auto result = head
        ? client_->Call("PUT", Path(name), &object, kJson, Info("update", name), &trace)
        : client_->Call("POST", Path(), &object, kJson, Info("create", name), &trace);
    std::optional<HeadInfo> applied;
    if (result.ok()) {
      if (auto decoded = DecodeHead(*result); decoded.ok()) applied = std::move(*decoded);
    } else if (trace.ambiguous) {
      // A timed-out attempt may have landed; its retry then saw 409 (or
      // gave up). Read back before deciding we lost.
      auto now = ReadBack(name);
      if (!now.ok()) {
        unsure = true;  // it may reference our chunks: do not delete them
        return give_up(result.status());
      }
      if (*now && IsOurHead(**now, spec)) {
        applied = std::move(**now);
        result = json::object();
      }
    }
    if (!result.ok()) {
      if (Retryable(result.status()) || result.status().code() == absl::StatusCode::kNotFound) {
        continue;
      }
      return give_up(result.status());
    }
    if (applied) cache_.Apply(*applied);
    if (head && head->chunks && spec.chunks &&
        head->chunks->generation != spec.chunks->generation) {
      DeleteChunks(name, *head->chunks);  // after the switch: no reader needs them now
    } else if (head && head->chunks && !spec.chunks) {
      DeleteChunks(name, *head->chunks);
    }
    return state;
  }
  return give_up(
      absl::AbortedError(absl::StrCat("kubernetes store: too many conflicting writes to ", name)));
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
    const WorkerState state{update.status, NextStamp(SystemClockMs(), head->state.updated_at_ms),
                            update.source_load};
    const json patch = StatusPatch(head->resource_version, state);
    CallTrace trace;
    auto result =
        client_->Call("PATCH", Path(name), &patch, kMergePatch, Info("patch", name), &trace);
    if (!result.ok() && trace.ambiguous) {
      // A timed-out PATCH that landed makes its retry a 409: read back and
      // recognise our own state (this call's millisecond stamp).
      auto now = ReadBack(name);
      if (!now.ok()) return result.status();
      if (*now && !(*now)->pending && SameKey(**now, key) && (*now)->state == state) {
        cache_.Apply(**now);
        return state;
      }
    }
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
    if (!current.ok() && !expected && absl::IsDataLoss(current.status())) {
      // A head that does not decode (HeadName is a hash of the key, so the
      // name alone says it is this worker's): delete it without reading it.
      absl::Status removed = RemoveUndecodable(name);
      if (Retryable(removed)) continue;
      return removed;
    }
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
    CallTrace trace;
    auto result =
        client_->Call("DELETE", Path(name), &options, kJson, Info("delete", name), &trace);
    // A timed-out DELETE that landed: its retry finds nothing.
    if (trace.ambiguous && result.status().code() == absl::StatusCode::kNotFound) {
      result = json::object();
    }
    if (Retryable(result.status())) continue;
    if (!result.ok()) return result.status();
    cache_.Erase(name, head->rv);
    return absl::OkStatus();
  }
  return absl::AbortedError(absl::StrCat("kubernetes store: too many conflicting writes to ", name));
}

}  // namespace mx::store::kube
