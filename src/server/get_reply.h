// GetMetadata replies as wire bytes, assembled from a record's immutable
// parts (encoded once at publish) plus the live status and updated_at.
// Protobuf accepts fields in any order, so
//   found | worker{ head | nixl blob | payload | status | updated_at } | tail
// parses to the GetMetadataResponse of the contract, while the big parts
// (blob, tensors) go out as slices that share the stored bytes.
// GetMetadataReply is the one GetMetadata path: the gRPC service, the tests
// and the fuzzer all call it.
#ifndef MX_SERVER_GET_REPLY_H_
#define MX_SERVER_GET_REPLY_H_

#include <deque>
#include <memory>
#include <string>

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "p2p.pb.h"
#include "server/encoded_reply.h"
#include "server/metadata_service.h"
#include "store/record.h"

namespace mx::server {

// Keeps the legacy tensor lists of the most recently served workers alive,
// oldest dropped first beyond a byte budget: a worker a fleet is fetching
// pays for the copy once, an idle worker costs nothing. Thread-safe.
class RecentLegacyLists {
 public:
  explicit RecentLegacyLists(size_t budget_bytes) : budget_(budget_bytes) {}
  void Keep(std::shared_ptr<const LegacyBytes> bytes);

 private:
  const size_t budget_;
  absl::Mutex mu_;
  std::deque<std::shared_ptr<const LegacyBytes>> kept_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// GetMetadata: the request's checks and store read (MetadataService::Find),
// then the found=true reply of the record or the found=false one. Errors
// are Find's (InvalidArgument for bad ids, the store's own, e.g.
// Unavailable), never an empty answer. Thread-safe.
absl::StatusOr<grpc::ByteBuffer> GetMetadataReply(
    MetadataService& service, const model_express::p2p::GetMetadataRequest& request,
    RecentLegacyLists* recent);

// The found=true reply for `stored`. Uses stored.record->encoded when
// present, else encodes it now (Kubernetes records, Redis records of an
// older mxd). `recent` may be null (a legacy copy then lives only while
// replies are in flight); copies of records rebuilt per read are never kept.
grpc::ByteBuffer FoundReplyBytes(const store::StoredWorker& stored,
                                 RecentLegacyLists* recent = nullptr);

// The found=false reply echoing the request's ids.
grpc::ByteBuffer NotFoundReplyBytes(const model_express::p2p::GetMetadataRequest& request);

}  // namespace mx::server

#endif  // MX_SERVER_GET_REPLY_H_
