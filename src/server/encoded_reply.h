// Wire bytes of the immutable part of a worker's GetMetadata reply: a cache
// the server attaches to records it hands to in-process stores, which keep
// it without looking inside (store/record.h only declares it).
#ifndef MX_SERVER_ENCODED_REPLY_H_
#define MX_SERVER_ENCODED_REPLY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mx::server {

// Encoded once when the record is published so each read copies nothing (see
// server/get_reply.h for the layout). Derived data, never stored by a
// backend: records without it (e.g. decoded from Redis) are encoded per read.
struct EncodedReply {
  std::string worker_head;     // small WorkerMetadata fields, ends with nixl tag+length
  std::string worker_payload;  // the tensor_source or artifact_source field
  size_t tensor_entries = 0;   // where tensor_source's entries start in worker_payload
  std::string reply_tail;      // GetMetadataResponse mx_source_id, worker_id, identity

  // The legacy `tensors` copy, shared by the replies in flight and freed
  // with the last of them, so an idle record holds its tensors only once.
  mutable absl::Mutex legacy_mu;
  mutable std::weak_ptr<const std::string> legacy ABSL_GUARDED_BY(legacy_mu);
};

}  // namespace mx::server

#endif  // MX_SERVER_ENCODED_REPLY_H_
