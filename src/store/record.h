// The values a Store keeps and returns. Plain data; no behaviour.
#ifndef MX_STORE_RECORD_H_
#define MX_STORE_RECORD_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "p2p.pb.h"

namespace mx::server {
struct EncodedReply;  // server/encoded_reply.h: a reply cache stores keep opaque
}  // namespace mx::server

namespace mx::store {

using model_express::p2p::SourceStatus;

// A worker is addressed by the pair; neither part is ever parsed or split,
// so any byte string is a safe id as far as the store is concerned.
struct WorkerKey {
  std::string source_id;
  std::string worker_id;

  friend bool operator==(const WorkerKey& a, const WorkerKey& b) {
    return a.source_id == b.source_id && a.worker_id == b.worker_id;
  }
};

// The part of a worker that only PublishMetadata changes. Immutable once
// handed to a store; shared between readers without copying.
struct WorkerRecord {
  std::string source_id;
  std::string worker_id;
  model_express::p2p::SourceIdentity identity;
  // Tensors, endpoints, transfer-engine handle. Its status and updated_at
  // fields are not authoritative and are left at their defaults: the live
  // values are in WorkerState.
  model_express::p2p::WorkerMetadata worker;
  std::string pod_name;
  std::string pod_uid;
  std::string pod_namespace;
  // Principal that published the record (empty when auth is off).
  std::string owner;
  // Optional cache of the fields above as reply bytes; set last, by the
  // publisher, when the record will not change again. May be null. When set,
  // worker.tensor_source may be empty and the tensors held only here
  // ("compact" records, made by mxd for stores that take them,
  // Store::TakesCompactRecords: the parsed form costs ~3x the wire bytes,
  // and Redis stores and returns the reply bytes without decoding them).
  // A GetMetadata reply (server/get_reply.h) is built from either form.
  std::shared_ptr<const server::EncodedReply> encoded;
  // Bytes held by `encoded` (set with it), for stores that cap memory.
  size_t encoded_bytes = 0;
};

// The part of a worker that heartbeats and the reaper change.
struct WorkerState {
  SourceStatus status = model_express::p2p::SOURCE_STATUS_UNKNOWN;
  int64_t updated_at_ms = 0;  // store clock
  // The source's own busyness from its latest heartbeat, in [0, 1]
  // (ClampLoad); 0 when unknown. Advisory, for clients choosing a source.
  float source_load = 0;

  friend bool operator==(const WorkerState& a, const WorkerState& b) {
    return a.status == b.status && a.updated_at_ms == b.updated_at_ms &&
           a.source_load == b.source_load;
  }
};

// `load` clamped into [0, 1]; NaN reads as 0 (a heartbeat never fails over
// an advisory hint).
float ClampLoad(float load);

struct StoredWorker {
  std::shared_ptr<const WorkerRecord> record;
  WorkerState state;
};

// Lightweight summary used for listing; never carries tensors.
struct WorkerRef {
  std::string source_id;
  std::string worker_id;
  std::string model_name;
  uint32_t worker_rank = 0;
  std::string accelerator;
  WorkerState state;
  std::optional<uint64_t> training_step;
  std::optional<std::string> layout_signature;
  std::string owner;
  // The record's worker.topology (domain -> value), empty when unpublished.
  std::map<std::string, std::string> topology;
};

// ListSources filters, pushed down to the store. Unset means "any".
struct ListQuery {
  std::optional<std::string> source_id;
  std::optional<SourceStatus> status;
  std::optional<std::string> model_name;
  std::optional<uint32_t> worker_rank;
  std::optional<uint64_t> min_training_step;  // refs without a step never match
  std::optional<int64_t> min_updated_at_ms;   // inclusive
  // Inclusive. The reaper's candidates (workers silent long enough); the
  // memory store answers it from its age index without a walk over the fleet.
  std::optional<int64_t> max_updated_at_ms;
  std::optional<uint32_t> limit;              // 0 or unset: no limit
};

// Builds the listing summary of a record (training_step, layout_signature
// derived from identity.extra_parameters as the wire contract says).
WorkerRef MakeRef(const WorkerRecord& record, const WorkerState& state);

// True when `ref` passes every filter of `query` (limit is not a filter).
bool Matches(const ListQuery& query, const WorkerRef& ref);
// The filters of `query` on a worker's state alone (status, updated_at):
// what a store can check before decoding the rest of a ref.
bool MatchesState(const ListQuery& query, const WorkerState& state);

// Sorts newest first (ties by source_id, worker_id) and applies the limit.
void SortAndLimit(const ListQuery& query, std::vector<WorkerRef>* refs);
// The same over pointers (stores that sort before copying).
void SortAndLimit(const ListQuery& query, std::vector<const WorkerRef*>* refs);

}  // namespace mx::store

#endif  // MX_STORE_RECORD_H_
