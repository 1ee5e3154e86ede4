// Protobuf wire encoding of GetMetadata replies, by hand where it saves a
// copy or a re-encode. gRPC-free (MetadataService encodes at publish).
#ifndef MX_SERVER_REPLY_ENCODING_H_
#define MX_SERVER_REPLY_ENCODING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "server/encoded_reply.h"
#include "store/record.h"

namespace mx::server {

// The immutable reply parts of `record`, which must be final: tensors
// normalized into tensor_source, status and updated_at not set.
//   worker_head    = WorkerMetadata small fields + unknown fields, then the
//                    nixl_metadata tag and length when it is set (the blob
//                    bytes themselves stay in the record, not copied);
//   worker_payload = tensor_source (or artifact_source); the legacy
//                    `tensors` copy is made per reply (LegacyTensors), which
//                    halves what a stored worker costs;
//   reply_tail     = GetMetadataResponse mx_source_id, worker_id, identity.
std::shared_ptr<const EncodedReply> EncodeReply(const store::WorkerRecord& record);
std::shared_ptr<const EncodedReply> EncodeReply(
    const std::string& source_id, const std::string& worker_id,
    const model_express::p2p::SourceIdentity& identity,
    const model_express::p2p::WorkerMetadata& worker);
// The same with worker_payload given: `tensor_payload` is the whole
// tensor_source field as wire bytes (tag, length, entries from
// `entries_offset`), e.g. as received (server/publish_wire.h); `worker`'s
// own tensor_source and tensors are ignored.
std::shared_ptr<const EncodedReply> EncodeReply(
    const std::string& source_id, const std::string& worker_id,
    const model_express::p2p::SourceIdentity& identity,
    const model_express::p2p::WorkerMetadata& worker, std::string tensor_payload,
    size_t entries_offset);

// The tensors of `encoded` (none for artifact sources) re-tagged as the
// legacy WorkerMetadata.tensors field, written to `out` (resized).
void LegacyTensors(const EncodedReply& encoded, std::string* out);
// The size LegacyTensors() writes, and a version writing to a buffer of it.
size_t LegacyTensorsSize(const EncodedReply& encoded);
bool WriteLegacyTensors(const EncodedReply& encoded, char* out);

// The GetMetadataResponse bytes that go before the worker head:
// found=true and the worker field's tag and length.
std::string ReplyPrefix(size_t worker_size);

// WorkerMetadata status and updated_at, as they go after the payload.
std::string LiveWorkerFields(const store::WorkerState& state);

}  // namespace mx::server

#endif  // MX_SERVER_REPLY_ENCODING_H_
