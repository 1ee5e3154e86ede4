// Wire bytes of the immutable part of a worker's GetMetadata reply: the
// server attaches them to the records it publishes to stores that take
// compact records (Store::TakesCompactRecords): the memory store keeps the
// object without looking inside, the Redis store writes these bytes and
// rebuilds the struct from them on a read (store/redis/redis_codec.cc).
#ifndef MX_SERVER_ENCODED_REPLY_H_
#define MX_SERVER_ENCODED_REPLY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mx::server {

// Encoded once when the record is published so each read copies nothing (see
// server/get_reply.h for the layout). Records without it (from the
// Kubernetes store, or Redis records written by an older mxd) are encoded
// per read.
struct EncodedReply {
  std::string worker_head;     // small WorkerMetadata fields, ends with nixl tag+length
  std::string worker_payload;  // the tensor_source or artifact_source field
  size_t tensor_entries = 0;   // where tensor_source's entries start in worker_payload
  std::string reply_tail;      // GetMetadataResponse mx_source_id, worker_id, identity

  // True when the store hands this same object to later reads (memory), so
  // its legacy copy is worth keeping for the next reply (RecentLegacyLists);
  // false for one a store rebuilt for a single read (Redis).
  bool reused_across_reads = true;

  // The legacy `tensors` copy, shared by the replies in flight and freed
  // with the last of them, so an idle record holds its tensors only once.
  mutable absl::Mutex legacy_mu;
  mutable std::weak_ptr<const std::string> legacy ABSL_GUARDED_BY(legacy_mu);
};

}  // namespace mx::server

#endif  // MX_SERVER_ENCODED_REPLY_H_
