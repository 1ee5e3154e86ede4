// Target side: find a READY peer holding the same material as this worker.
#ifndef MX_FIND_SOURCE_H_
#define MX_FIND_SOURCE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "mx/client.h"

namespace mx {

struct FindSourceOptions {
  p2p::SourceIdentity identity;  // what this worker is about to load
  uint32_t worker_rank = 0;      // only sources with this rank match
  std::string own_worker_id;     // never returned (a worker is not its own source)
  // This worker's accelerator; a source with a different non-empty one is
  // skipped. Empty on either side means unknown, which is compatible.
  std::string accelerator;
  // Total time to wait for a source to appear; 0 means look once (that
  // look gets the client's per-call deadline, ClientOptions::deadline).
  std::chrono::milliseconds timeout{60000};
  std::chrono::milliseconds initial_poll{200};
  std::chrono::milliseconds max_poll{5000};
  // Policy; unset means client.options().source_selector (which
  // ClientOptions::FromEnvironment reads from MX_P2P_SOURCE_SELECTOR).
  std::optional<SourceSelector> selector;
  // Candidates read per look, best first; a vanished or no longer READY
  // one is skipped. At least 1.
  int max_candidates = 3;
  // This target's topology (domain -> value), for topology_aware.
  std::map<std::string, std::string> topology;
  // Key of rendezvous_hash (and load_aware's tie-break); empty means
  // own_worker_id.
  std::string target_id;
};

struct FoundSource {
  std::string mx_source_id;
  std::string worker_id;
  p2p::SourceIdentity identity;
  // The record as published; tensor_source is filled from the legacy
  // `tensors` field when an old writer only set that one.
  p2p::WorkerMetadata worker;
};

// Lists READY sources of `options.identity` with the caller's rank, drops the
// caller and incompatible accelerators, orders the rest by the selector and
// reads up to max_candidates of them, moving on when one vanished or stopped
// being READY before its metadata could be read.
// Polls with backoff until one is found. DeadlineExceeded when none appeared
// within the timeout; other errors (e.g. InvalidArgument) are returned as is.
absl::StatusOr<FoundSource> FindSource(const Client& client, const FindSourceOptions& options);

// The tensors of a worker: tensor_source, else the legacy `tensors` field.
const google::protobuf::RepeatedPtrField<p2p::TensorDescriptor>& WorkerTensors(
    const p2p::WorkerMetadata& worker);

}  // namespace mx

#endif  // MX_FIND_SOURCE_H_
