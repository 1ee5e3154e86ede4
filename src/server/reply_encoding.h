// Protobuf wire encoding of GetMetadata replies, by hand where it saves a
// copy or a re-encode. gRPC-free (MetadataService encodes at publish).
#ifndef MX_SERVER_REPLY_ENCODING_H_
#define MX_SERVER_REPLY_ENCODING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "store/record.h"

namespace mx::server {

// The immutable reply parts of `record`, which must be final: tensors
// normalized into tensor_source, status and updated_at not set.
//   worker_head    = WorkerMetadata small fields + unknown fields, then the
//                    nixl_metadata tag and length when it is set (the blob
//                    bytes themselves stay in the record, not copied);
//   worker_payload = tensor_source, then the same tensors as the legacy
//                    `tensors` field (or artifact_source);
//   reply_tail     = GetMetadataResponse mx_source_id, worker_id, identity.
std::shared_ptr<const store::EncodedReply> EncodeReply(const store::WorkerRecord& record);

// The GetMetadataResponse bytes that go before the worker head:
// found=true and the worker field's tag and length.
std::string ReplyPrefix(size_t worker_size);

// WorkerMetadata status and updated_at, as they go after the payload.
std::string LiveWorkerFields(const store::WorkerState& state);

}  // namespace mx::server

#endif  // MX_SERVER_REPLY_ENCODING_H_
