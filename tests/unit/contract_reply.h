// What the wire contract says GetMetadata returns, written out for tests
// independently of the server's code, so a test compares mxd's reply with
// the contract rather than with another path of mxd.
#ifndef MX_TESTS_UNIT_CONTRACT_REPLY_H_
#define MX_TESTS_UNIT_CONTRACT_REPLY_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "p2p.pb.h"

namespace mx::testing {

// Parses a reply as gRPC would send it (the raw path's ByteBuffer) into
// `reply`; false when the bytes are not a GetMetadataResponse.
inline bool ParseReplyBytes(const grpc::ByteBuffer& bytes,
                            model_express::p2p::GetMetadataResponse* reply) {
  std::vector<grpc::Slice> slices;
  if (!bytes.Dump(&slices).ok()) return false;
  std::string flat;
  for (const auto& s : slices) flat.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return reply->ParseFromString(flat);
}

// The reply for a worker published as `req` under `source_id` whose live
// state is (`status`, `updated_at`): both tensor lists filled (a
// legacy-only publisher's list moved into tensor_source), the live fields
// set, the ids and identity echoed.
inline model_express::p2p::GetMetadataResponse ContractReply(
    const model_express::p2p::PublishMetadataRequest& req, const std::string& source_id,
    model_express::p2p::SourceStatus status, int64_t updated_at) {
  model_express::p2p::GetMetadataResponse reply;
  reply.set_found(true);
  reply.set_mx_source_id(source_id);
  reply.set_worker_id(req.worker_id());
  *reply.mutable_identity() = req.identity();
  model_express::p2p::WorkerMetadata* w = reply.mutable_worker();
  *w = req.worker();
  if (w->tensors_size() > 0 && !w->has_tensor_source() && !w->has_artifact_source()) {
    *w->mutable_tensor_source()->mutable_tensors() = w->tensors();
  }
  if (w->has_tensor_source()) *w->mutable_tensors() = w->tensor_source().tensors();
  w->set_status(status);
  w->set_updated_at(updated_at);
  return reply;
}

}  // namespace mx::testing

#endif  // MX_TESTS_UNIT_CONTRACT_REPLY_H_
