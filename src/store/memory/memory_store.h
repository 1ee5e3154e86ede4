// The embedded default store: records in this process's memory, indexed by
// source and by rank so a filtered listing touches only what it returns.
#ifndef MX_STORE_MEMORY_MEMORY_STORE_H_
#define MX_STORE_MEMORY_MEMORY_STORE_H_

#include <functional>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "store/store.h"

namespace mx::store {

using ClockMs = std::function<int64_t()>;

// Wall-clock unix milliseconds.
int64_t SystemClockMs();

// Caps on what the memory store holds; 0 means no cap. An upsert that would
// pass one is refused with ResourceExhausted naming the cap and changes
// nothing (replacing a worker counts only the difference).
struct MemoryStoreLimits {
  size_t max_records = 0;
  size_t max_bytes = 0;  // approximate bytes of the records (wire sizes)
};

// Approximate bytes a record holds in memory (identity, worker, reply bytes).
size_t RecordBytes(const WorkerRecord& record);

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(ClockMs clock = SystemClockMs, MemoryStoreLimits limits = {});

  // Records and approximate bytes held now; refusals since start.
  size_t records() const;
  size_t bytes() const;
  int64_t refusals() const;

  std::string_view backend() const override { return "memory"; }
  bool MayBlock() const override { return false; }
  absl::StatusOr<int64_t> NowMs() override { return clock_(); }
  absl::Status CheckHealth() override { return absl::OkStatus(); }

  absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                     const UpsertOptions& options) override;
  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override;
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override;
  // From each worker's ref encoded at publish plus its live fields; a
  // listing without a source walks an index kept newest first.
  absl::Status AppendListReply(const ListQuery& query, std::string* out) override;
  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override;
  absl::Status Remove(const WorkerKey& key,
                      const std::optional<WorkerState>& expected) override;

 private:
  struct Entry {
    std::shared_ptr<const WorkerRecord> record;
    WorkerRef ref;  // summary with the live state
    size_t bytes = 0;
    std::string ref_head;  // the ref's wire bytes but the live fields (ref_encoding.h)
  };
  // Store::List's order: newest updated_at first, then source_id, worker_id.
  // Reads the entries' state: an entry leaves the index before it changes.
  struct NewestFirst {
    bool operator()(const Entry* a, const Entry* b) const;
  };
  struct Source {
    std::string model_name;
    // Node map: entries stay where they are (the index points at them).
    absl::node_hash_map<std::string, Entry> workers;
    absl::flat_hash_map<uint32_t, absl::flat_hash_set<std::string>> by_rank;
  };

  Entry* FindLocked(const WorkerKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(const WorkerKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void CollectFrom(const Source& source, const ListQuery& query,
                          std::vector<const Entry*>* out);

  const ClockMs clock_;
  const MemoryStoreLimits limits_;
  mutable absl::Mutex mu_;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refusals_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Source> sources_ ABSL_GUARDED_BY(mu_);
  size_t worker_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Every entry, newest first: an unfiltered listing walks it in order.
  absl::btree_set<const Entry*, NewestFirst> newest_first_ ABSL_GUARDED_BY(mu_);
  size_t ref_head_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mx::store

#endif  // MX_STORE_MEMORY_MEMORY_STORE_H_
