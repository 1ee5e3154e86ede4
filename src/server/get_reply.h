// GetMetadata replies as wire bytes, assembled from a record's immutable
// parts (encoded once at publish) plus the live status and updated_at.
// Protobuf accepts fields in any order, so
//   found | worker{ head | nixl blob | payload | status | updated_at } | tail
// parses to exactly the message MetadataService::Get builds, while the big
// parts (blob, tensors) go out as slices that share the stored bytes.
#ifndef MX_SERVER_GET_REPLY_H_
#define MX_SERVER_GET_REPLY_H_

#include <memory>

#include <grpcpp/support/byte_buffer.h>

#include "p2p.pb.h"
#include "store/record.h"

namespace mx::server {

// The found=true reply for `stored`. Uses stored.record->encoded when
// present, else encodes it now (records from network stores).
grpc::ByteBuffer FoundReplyBytes(const store::StoredWorker& stored);

// The found=false reply echoing the request's ids.
grpc::ByteBuffer NotFoundReplyBytes(const model_express::p2p::GetMetadataRequest& request);

}  // namespace mx::server

#endif  // MX_SERVER_GET_REPLY_H_
