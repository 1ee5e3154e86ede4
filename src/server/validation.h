// Request checks shared by the RPC handlers. Two kinds of failure:
//  - the contract's in-band cases (success=false with a message), returned
//    as a non-empty string by Missing*();
//  - everything else, returned as InvalidArgument / ResourceExhausted.
#ifndef MX_SERVER_VALIDATION_H_
#define MX_SERVER_VALIDATION_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "p2p.pb.h"

namespace mx::server {

// Documented in docs/api.md ("Limits").
struct RequestLimits {
  size_t max_id_bytes = 512;             // worker_id, mx_source_id
  size_t max_identity_field_bytes = 1024;  // each SourceIdentity string
  size_t max_extra_parameters = 128;
  size_t max_tensors = 1'000'000;        // per worker, tensor_source + legacy
  size_t max_tensor_name_bytes = 4096;
  size_t max_endpoint_bytes = 4096;      // endpoints, agent name, accelerator
  // Largest GetMetadata reply the server can send (its max send size); 0:
  // unchecked. A publish whose reply would be larger is refused.
  size_t max_reply_bytes = 0;
};

// Contract validation of PublishMetadata; empty when fine.
std::string MissingPublishField(const model_express::p2p::PublishMetadataRequest& request);

// Contract validation of UpdateStatus; empty when fine.
std::string InvalidUpdateStatus(const model_express::p2p::UpdateStatusRequest& request);

absl::Status CheckPublishLimits(const model_express::p2p::PublishMetadataRequest& request,
                                const RequestLimits& limits);

// The tensor checks of CheckPublishLimits, for callers that count tensors
// without parsing them (server/publish_wire.h): `tensors` over both lists;
// the byte size of a tensor name.
absl::Status CheckTensorCount(size_t tensors, const RequestLimits& limits);
absl::Status CheckTensorNameBytes(size_t name_bytes, const RequestLimits& limits);

// ListSources: identity strings and model_name_filter.
absl::Status CheckListLimits(const model_express::p2p::ListSourcesRequest& request,
                             const RequestLimits& limits);

// RESOURCE_EXHAUSTED naming both numbers when a GetMetadata reply of
// `reply_bytes` would not fit limits.max_reply_bytes.
absl::Status CheckReplySize(size_t reply_bytes, const RequestLimits& limits);

// An id supplied by a caller for lookup (GetMetadata, UpdateStatus).
absl::Status CheckLookupId(std::string_view field, const std::string& id,
                           const RequestLimits& limits);

// True for the four defined SourceStatus values.
bool IsKnownStatus(int status);

}  // namespace mx::server

#endif  // MX_SERVER_VALIDATION_H_
