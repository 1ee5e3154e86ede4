#include "store/memory/memory_store.h"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "store/ref_encoding.h"

namespace mx::store {

int64_t SystemClockMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

MemoryStore::MemoryStore(ClockMs clock, MemoryStoreLimits limits)
    : clock_(std::move(clock)), limits_(limits) {}

size_t RecordBytes(const WorkerRecord& record) {
  size_t bytes = sizeof(WorkerRecord) + record.identity.ByteSizeLong() +
                 record.worker.ByteSizeLong() + record.source_id.size() +
                 record.worker_id.size() + record.pod_name.size() + record.pod_uid.size() +
                 record.pod_namespace.size() + record.owner.size();
  return bytes + record.encoded_bytes;
}

size_t MemoryStore::records() const {
  absl::ReaderMutexLock lock(&mu_);
  return worker_count_;
}

size_t MemoryStore::bytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return bytes_;
}

int64_t MemoryStore::refusals() const {
  absl::ReaderMutexLock lock(&mu_);
  return refusals_;
}

bool MemoryStore::NewestFirst::operator()(const Entry* a, const Entry* b) const {
  return std::tie(b->ref.state.updated_at_ms, a->ref.source_id, a->ref.worker_id) <
         std::tie(a->ref.state.updated_at_ms, b->ref.source_id, b->ref.worker_id);
}

MemoryStore::Entry* MemoryStore::FindLocked(const WorkerKey& key) {
  auto source = sources_.find(key.source_id);
  if (source == sources_.end()) return nullptr;
  auto worker = source->second.workers.find(key.worker_id);
  return worker == source->second.workers.end() ? nullptr : &worker->second;
}

void MemoryStore::EraseLocked(const WorkerKey& key) {
  auto source = sources_.find(key.source_id);
  if (source == sources_.end()) return;
  Source& s = source->second;
  auto worker = s.workers.find(key.worker_id);
  if (worker == s.workers.end()) return;
  const uint32_t rank = worker->second.ref.worker_rank;
  if (auto r = s.by_rank.find(rank); r != s.by_rank.end()) {
    r->second.erase(key.worker_id);
    if (r->second.empty()) s.by_rank.erase(r);
  }
  bytes_ -= worker->second.bytes;
  newest_first_.erase(&worker->second);
  ref_head_bytes_ -= worker->second.ref_head.size();
  s.workers.erase(worker);
  --worker_count_;
  if (s.workers.empty()) sources_.erase(source);
}

absl::StatusOr<WorkerState> MemoryStore::Upsert(std::shared_ptr<const WorkerRecord> record,
                                                const UpsertOptions& options) {
  if (record == nullptr) return absl::InvalidArgumentError("null record");
  const WorkerKey key{record->source_id, record->worker_id};
  // The replaced record is freed after the lock is released (declared
  // first, destroyed last): a 100k-tensor record takes milliseconds to free.
  std::shared_ptr<const WorkerRecord> replaced;
  const size_t bytes = RecordBytes(*record);  // outside the lock
  std::string ref_head = EncodeRefHead(MakeRef(*record, WorkerState{}));
  absl::MutexLock lock(&mu_);
  size_t replaced_bytes = 0;
  if (const Entry* existing = FindLocked(key); existing != nullptr) {
    if (options.required_owner && existing->record->owner != *options.required_owner) {
      return absl::PermissionDeniedError("worker is owned by another principal");
    }
    replaced = existing->record;
    replaced_bytes = existing->bytes;
  }
  const size_t records_after = worker_count_ + (replaced == nullptr ? 1 : 0);
  const size_t bytes_after = bytes_ - replaced_bytes + bytes;
  if (limits_.max_records > 0 && records_after > limits_.max_records) {
    ++refusals_;
    return absl::ResourceExhaustedError(absl::StrCat(
        "memory store is full: it holds ", worker_count_, " workers, the cap is ",
        limits_.max_records, " (--memory-store-max-records)"));
  }
  if (limits_.max_bytes > 0 && bytes_after > limits_.max_bytes) {
    ++refusals_;
    return absl::ResourceExhaustedError(absl::StrCat(
        "memory store is full: this worker needs ", bytes, " bytes, ", bytes_, " of ",
        limits_.max_bytes, " are in use (--memory-store-max-bytes)"));
  }
  EraseLocked(key);
  const WorkerState state{options.status, clock_()};
  Source& source = sources_[key.source_id];
  source.model_name = record->identity.model_name();
  source.by_rank[record->worker.worker_rank()].insert(key.worker_id);
  ref_head_bytes_ += ref_head.size();
  Entry entry{record, MakeRef(*record, state), bytes, std::move(ref_head)};
  auto placed = source.workers.emplace(key.worker_id, std::move(entry));
  newest_first_.insert(&placed.first->second);
  ++worker_count_;
  bytes_ += bytes;
  return state;
}

absl::StatusOr<StoredWorker> MemoryStore::Get(const WorkerKey& key) {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(key);
  if (entry == nullptr) return absl::NotFoundError("worker not found");
  return StoredWorker{entry->record, entry->ref.state};
}

void MemoryStore::CollectFrom(const Source& source, const ListQuery& query,
                              std::vector<const Entry*>* out) {
  if (query.model_name && *query.model_name != source.model_name) return;
  if (query.worker_rank) {
    auto rank = source.by_rank.find(*query.worker_rank);
    if (rank == source.by_rank.end()) return;
    for (const std::string& worker_id : rank->second) {
      const Entry& entry = source.workers.at(worker_id);
      if (Matches(query, entry.ref)) out->push_back(&entry);
    }
    return;
  }
  for (const auto& [worker_id, entry] : source.workers) {
    if (Matches(query, entry.ref)) out->push_back(&entry);
  }
}

absl::StatusOr<std::vector<WorkerRef>> MemoryStore::List(const ListQuery& query) {
  // Sorts pointers and copies only what is returned: a full listing of
  // 10,000 workers moved whole refs around several times otherwise.
  std::vector<const Entry*> entries;
  std::vector<const WorkerRef*> matches;
  std::vector<WorkerRef> refs;
  absl::ReaderMutexLock lock(&mu_);
  if (query.source_id) {
    if (auto it = sources_.find(*query.source_id); it != sources_.end()) {
      CollectFrom(it->second, query, &entries);
    }
  } else if (query.max_updated_at_ms) {
    // The oldest first, only as far as the bound: the reaper's scan costs
    // O(candidates), and holds the lock that heartbeats wait on that long
    // (a walk over 200,000 workers stalled them for ~0.5 s).
    for (auto it = newest_first_.rbegin();
         it != newest_first_.rend() && (*it)->ref.state.updated_at_ms <= *query.max_updated_at_ms;
         ++it) {
      if (Matches(query, (*it)->ref)) entries.push_back(*it);
    }
  } else {
    entries.reserve(worker_count_);
    for (const auto& [source_id, source] : sources_) CollectFrom(source, query, &entries);
  }
  matches.reserve(entries.size());
  for (const Entry* entry : entries) matches.push_back(&entry->ref);
  SortAndLimit(query, &matches);
  refs.reserve(matches.size());
  for (const WorkerRef* ref : matches) refs.push_back(*ref);
  return refs;
}

absl::Status MemoryStore::AppendListReply(const ListQuery& query, std::string* out) {
  const size_t limit = query.limit.value_or(0);
  absl::ReaderMutexLock lock(&mu_);
  if (query.source_id) {
    // One source's workers (a handful): collect and order them.
    std::vector<const Entry*> matches;
    if (auto it = sources_.find(*query.source_id); it != sources_.end()) {
      CollectFrom(it->second, query, &matches);
    }
    const size_t n = limit > 0 ? std::min(limit, matches.size()) : matches.size();
    std::partial_sort(matches.begin(), matches.begin() + static_cast<ptrdiff_t>(n),
                      matches.end(), NewestFirst());
    for (size_t i = 0; i < n; ++i) AppendInstance(matches[i]->ref_head, matches[i]->ref.state, out);
    return absl::OkStatus();
  }
  if (!query.status && !query.model_name && !query.worker_rank && limit == 0) {
    out->reserve(out->size() + ref_head_bytes_ + newest_first_.size() * 16);
  }
  // The entries and their encoded refs lie all over the heap: walking them
  // in index order is a cache miss per line. Fetch ahead, in two steps (an
  // entry, then the bytes it points at), so the misses overlap.
  const std::vector<const Entry*> order(newest_first_.begin(), newest_first_.end());
  constexpr size_t kAhead = 8;
  size_t listed = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i + 2 * kAhead < order.size()) {
      const Entry* later = order[i + 2 * kAhead];
      __builtin_prefetch(&later->ref.state);
      __builtin_prefetch(&later->ref_head);
    }
    if (i + kAhead < order.size()) {
      const std::string& head = order[i + kAhead]->ref_head;
      for (size_t line = 0; line < head.size(); line += 64) __builtin_prefetch(head.data() + line);
    }
    const Entry* entry = order[i];
    // Newest first: past the freshness cut, nothing further can match.
    if (query.min_updated_at_ms && entry->ref.state.updated_at_ms < *query.min_updated_at_ms) {
      break;
    }
    if (!Matches(query, entry->ref)) continue;
    AppendInstance(entry->ref_head, entry->ref.state, out);
    if (++listed == limit) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<WorkerState> MemoryStore::UpdateStatus(const WorkerKey& key,
                                                      const StatusUpdate& update) {
  absl::MutexLock lock(&mu_);
  Entry* entry = FindLocked(key);
  if (entry == nullptr || (update.rank && *update.rank != entry->ref.worker_rank)) {
    return absl::NotFoundError("worker not found");
  }
  if (update.required_owner && entry->record->owner != *update.required_owner) {
    return absl::PermissionDeniedError("worker is owned by another principal");
  }
  if (update.expected && !(*update.expected == entry->ref.state)) {
    return absl::FailedPreconditionError("worker state changed");
  }
  newest_first_.erase(entry);  // before its key changes
  entry->ref.state = WorkerState{update.status, clock_(), update.source_load};
  newest_first_.insert(entry);
  return entry->ref.state;
}

absl::Status MemoryStore::Remove(const WorkerKey& key,
                                 const std::optional<WorkerState>& expected) {
  std::shared_ptr<const WorkerRecord> removed;  // freed after unlocking
  absl::MutexLock lock(&mu_);
  const Entry* entry = FindLocked(key);
  if (entry == nullptr) return absl::NotFoundError("worker not found");
  if (expected && !(*expected == entry->ref.state)) {
    return absl::FailedPreconditionError("worker state changed");
  }
  removed = entry->record;
  EraseLocked(key);
  return absl::OkStatus();
}

}  // namespace mx::store
