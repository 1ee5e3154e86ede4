// The metadata store: where worker records live. One interface, three
// backends (memory, redis, kubernetes), all held to tests/unit/store_contract.
#ifndef MX_STORE_STORE_H_
#define MX_STORE_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/record.h"

namespace mx::store {

struct UpsertOptions {
  SourceStatus status = model_express::p2p::SOURCE_STATUS_INITIALIZING;
  // When set and a record already exists under the key whose owner differs,
  // the upsert fails with PermissionDenied and changes nothing.
  std::optional<std::string> required_owner;
};

struct StatusUpdate {
  SourceStatus status = model_express::p2p::SOURCE_STATUS_UNKNOWN;
  // Stored with the status (already clamped by the caller, see ClampLoad).
  float source_load = 0;
  // NotFound unless the record has this worker_rank (heartbeats carry it).
  std::optional<uint32_t> rank;
  // Compare-and-set: FailedPrecondition unless the current state equals this
  // exactly (the reaper passes what it read, so a fresher heartbeat wins).
  std::optional<WorkerState> expected;
  // PermissionDenied unless the record's owner equals this.
  std::optional<std::string> required_owner;
};

// Every method is thread-safe and atomic with respect to the others: a reader
// sees a record either wholly before or wholly after a write, never a mix.
// Errors: NotFound as documented per method; Unavailable when the backing
// service cannot be reached (callers must never turn that into "absent");
// FailedPrecondition for a compare-and-set that lost; PermissionDenied for an
// owner mismatch; ResourceExhausted for a record the backend cannot hold.
//
// Several mxd replicas may share one backing service: state lives only in
// the backend, and every precondition is checked inside the backend's atomic
// step. A change feed (watch) will be a separate interface implemented next
// to this one, so backends without one stay valid Stores.
class Store {
 public:
  virtual ~Store() = default;

  // "memory", "redis", "kubernetes": for logs and metrics.
  virtual std::string_view backend() const = 0;

  // True when calls can block on network I/O; the server then runs them
  // off gRPC's threads. The memory store answers inline.
  virtual bool MayBlock() const = 0;

  // True when the store may be handed compact records (record.h: `encoded`
  // set, the tensors held only there) and returns them from Get() in that
  // form: the memory store keeps the object, Redis stores the reply bytes.
  // Stores that re-encode a record from its parsed fields (Kubernetes)
  // answer false and are handed full records. Thread-safe.
  virtual bool TakesCompactRecords() const { return !MayBlock(); }

  // True when List() is answered from local memory (a watch-fed cache)
  // even though MayBlock(): the server then runs such reads on their own
  // lane, never queued behind writes. Thread-safe.
  virtual bool ListIsCached() const { return false; }

  // How many times a listing or scan skipped a record that could not be
  // decoded (a "poison" record; store/corrupt_records.h). Monotonic,
  // thread-safe; exported as mxd_store_corrupt_records_total.
  virtual uint64_t CorruptRecordsSkipped() const { return 0; }

  // Unix milliseconds on the store's clock, the one that stamps updated_at.
  // Replicas sharing a backend share this clock, so they agree on staleness.
  virtual absl::StatusOr<int64_t> NowMs() = 0;

  // OK while the backend is reachable and usable (health checks).
  virtual absl::Status CheckHealth() = 0;

  // Inserts or replaces the worker under (record.source_id, record.worker_id)
  // in one atomic step, with options.status and updated_at = NowMs().
  // Returns the state written.
  virtual absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                             const UpsertOptions& options) = 0;

  // The record and its live state. NotFound when absent.
  virtual absl::StatusOr<StoredWorker> Get(const WorkerKey& key) = 0;

  // Summaries matching every filter in `query`, newest updated_at first
  // (ties by source_id then worker_id), at most query.limit. Never reads
  // tensors. An empty vector means nothing matched. A record that cannot
  // be decoded is skipped and counted (CorruptRecordsSkipped), never fails
  // the whole listing.
  virtual absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) = 0;

  // Appends to `out` the workers List(query) returns, as ListSourcesResponse
  // wire bytes (one `instances` entry per worker, in List's order), without
  // building WorkerRefs: the fast path of an unfiltered listing.
  // Unimplemented (this default) where a store cannot; callers then use
  // List(). Other errors as List(). Decorators that change List() must not
  // forward this (ForwardingStore does not). Thread-safe.
  virtual absl::Status AppendListReply(const ListQuery& query, std::string* out) {
    (void)query;
    (void)out;
    return absl::UnimplementedError("this store has no encoded listing; use List");
  }

  // Sets status and source_load and stamps updated_at = NowMs() on an existing worker, as a
  // compare-and-set under the conditions in `update`. NotFound when absent
  // (nothing is created). Returns the new state.
  virtual absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                                   const StatusUpdate& update) = 0;

  // Deletes the worker. With `expected`, only when its state still equals it
  // (FailedPrecondition otherwise). NotFound when absent. Without `expected`
  // the record is deleted by its key, never decoded: a record no listing can
  // show (a poison record) is removed too, with its indexes and chunks.
  virtual absl::Status Remove(const WorkerKey& key,
                              const std::optional<WorkerState>& expected) = 0;

  // Deletes every worker of `source_id`, decodable or not (the admin call
  // mxd.admin.v1.Admin/RemoveSource). Returns how many worker records went;
  // NotFound when there were none. Thread-safe. This default suits stores
  // that can hold no undecodable record (memory): it lists, then removes.
  virtual absl::StatusOr<uint32_t> RemoveSource(const std::string& source_id) {
    ListQuery query;
    query.source_id = source_id;
    auto refs = List(query);
    if (!refs.ok()) return refs.status();
    uint32_t removed = 0;
    for (const WorkerRef& ref : *refs) {
      absl::Status s = Remove({ref.source_id, ref.worker_id}, std::nullopt);
      if (s.ok()) {
        ++removed;
      } else if (!absl::IsNotFound(s)) {
        return s;
      }
    }
    if (removed == 0) return absl::NotFoundError("source not found");
    return removed;
  }
};

}  // namespace mx::store

#endif  // MX_STORE_STORE_H_
