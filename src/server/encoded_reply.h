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
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/record.h"

namespace mx::server {

// The legacy `tensors` list of a reply: written once in full (never zeroed
// first: a memset of the ~0.25 MB would cost a third of the copy), then
// only read.
struct LegacyBytes {
  explicit LegacyBytes(size_t n) : data(new char[n]), size(n) {}
  std::string_view view() const { return {data.get(), size}; }
  std::unique_ptr<char[]> data;
  size_t size;
};

// Encoded once when the record is published so each read copies nothing (see
// server/get_reply.h for the layout). Records without it (from the
// Kubernetes store, or Redis records written by an older mxd) are encoded
// per read.
struct EncodedReply {
  std::string worker_head;     // small WorkerMetadata fields, ends with nixl tag+length
  std::string worker_payload;  // the tensor_source or artifact_source field
  size_t tensor_entries = 0;   // where tensor_source's entries start in worker_payload
  std::string reply_tail;      // GetMetadataResponse mx_source_id, worker_id, identity

  // Set by a store that read the record's bytes into a buffer of its own
  // (Redis: the value as read off the socket): the payload and the NIXL
  // blob are then these views into `backing`, which this object keeps
  // alive, while worker_payload stays empty and the record's
  // worker.nixl_metadata unset; a reply sends them without a copy.
  std::shared_ptr<const char> backing;
  std::string_view backing_payload;
  std::string_view backing_blob;

  // The tensor_source (or artifact_source) field bytes, wherever they live.
  std::string_view payload() const { return backing ? backing_payload : worker_payload; }

  // True when the store hands this same object to later reads (memory), so
  // its legacy copy is worth keeping for the next reply (RecentLegacyLists);
  // false for one a store rebuilt for a single read (Redis).
  bool reused_across_reads = true;

  // The legacy `tensors` copy, shared by the replies in flight and freed
  // with the last of them, so an idle record holds its tensors only once.
  mutable absl::Mutex legacy_mu;
  mutable std::weak_ptr<const LegacyBytes> legacy ABSL_GUARDED_BY(legacy_mu);
};

// The NIXL blob of `record` as a reply sends it: the record's own, or the
// bytes its `encoded` keeps in `backing` ("" when neither is set).
inline std::string_view NixlBlob(const store::WorkerRecord& record) {
  if (record.encoded != nullptr && record.encoded->backing != nullptr) {
    return record.encoded->backing_blob;
  }
  return record.worker.nixl_metadata();
}

}  // namespace mx::server

#endif  // MX_SERVER_ENCODED_REPLY_H_
