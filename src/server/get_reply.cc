#include "server/get_reply.h"

#include <vector>

#include <grpc/slice.h>

#include "server/reply_encoding.h"

namespace mx::server {
namespace {

// A slice over bytes owned by `record`, which it keeps alive until gRPC
// has written them.
grpc::Slice SharedSlice(const std::shared_ptr<const store::WorkerRecord>& record,
                        const std::string& bytes) {
  auto* owner = new std::shared_ptr<const store::WorkerRecord>(record);
  return grpc::Slice(
      const_cast<char*>(bytes.data()), bytes.size(),
      [](void* p) { delete static_cast<std::shared_ptr<const store::WorkerRecord>*>(p); }, owner);
}

}  // namespace

grpc::ByteBuffer FoundReplyBytes(const store::StoredWorker& stored) {
  const std::shared_ptr<const store::WorkerRecord>& record = stored.record;
  const bool cached = record->encoded != nullptr;
  const std::shared_ptr<const store::EncodedReply> encoded =
      cached ? record->encoded : EncodeReply(*record);
  const std::string& blob = record->worker.nixl_metadata();  // "" unless set

  // The legacy copy of the tensors, re-tagged into a fresh slice.
  grpc::Slice legacy;
  if (encoded->tensor_entries != 0) {
    const size_t size = LegacyTensorsSize(*encoded);
    grpc_slice raw = grpc_slice_malloc(size);
    if (WriteLegacyTensors(*encoded, reinterpret_cast<char*>(GRPC_SLICE_START_PTR(raw)))) {
      legacy = grpc::Slice(raw, grpc::Slice::STEAL_REF);
    } else {
      grpc_slice_unref(raw);
      std::string bytes;
      LegacyTensors(*encoded, &bytes);
      legacy = grpc::Slice(bytes);
    }
  }
  std::string live = LiveWorkerFields(stored.state);
  const size_t worker_size = encoded->worker_head.size() + blob.size() +
                             encoded->worker_payload.size() + legacy.size() + live.size();
  std::string head = ReplyPrefix(worker_size);
  head.append(encoded->worker_head);
  live.append(encoded->reply_tail);

  // found | worker{head | blob | payload | legacy | status, updated_at} | tail
  std::vector<grpc::Slice> slices;
  slices.reserve(5);
  slices.emplace_back(head);
  if (!blob.empty()) slices.push_back(SharedSlice(record, blob));
  if (cached) {
    if (!encoded->worker_payload.empty()) {
      slices.push_back(SharedSlice(record, encoded->worker_payload));
    }
  } else {
    slices.emplace_back(encoded->worker_payload);  // copied: `encoded` dies with this call
  }
  if (legacy.size() > 0) slices.push_back(std::move(legacy));
  slices.emplace_back(live);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::ByteBuffer NotFoundReplyBytes(const model_express::p2p::GetMetadataRequest& request) {
  model_express::p2p::GetMetadataResponse reply;
  reply.set_found(false);
  reply.set_mx_source_id(request.mx_source_id());
  reply.set_worker_id(request.worker_id());
  grpc::Slice slice(reply.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace mx::server
