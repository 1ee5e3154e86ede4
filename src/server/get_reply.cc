#include "server/get_reply.h"

#include <algorithm>
#include <vector>

#include "server/reply_encoding.h"

namespace mx::server {
namespace {

// A slice over bytes owned by `record`, which it keeps alive until gRPC
// has written them.
grpc::Slice SharedSlice(const std::shared_ptr<const store::WorkerRecord>& record,
                        std::string_view bytes) {
  auto* owner = new std::shared_ptr<const store::WorkerRecord>(record);
  return grpc::Slice(
      const_cast<char*>(bytes.data()), bytes.size(),
      [](void* p) { delete static_cast<std::shared_ptr<const store::WorkerRecord>*>(p); }, owner);
}

// The legacy tensor list of `encoded`: the copy a reply in flight already
// made, or a new one.
std::shared_ptr<const LegacyBytes> SharedLegacy(const EncodedReply& encoded,
                                                RecentLegacyLists* recent) {
  {
    absl::MutexLock lock(&encoded.legacy_mu);
    if (auto shared = encoded.legacy.lock()) return shared;
  }
  auto bytes = std::make_shared<LegacyBytes>(LegacyTensorsSize(encoded));
  if (!WriteLegacyTensors(encoded, bytes->data.get())) {  // unknown fields among the entries
    std::string decoded;
    LegacyTensors(encoded, &decoded);
    bytes = std::make_shared<LegacyBytes>(decoded.size());
    std::copy(decoded.begin(), decoded.end(), bytes->data.get());
  }
  absl::MutexLock lock(&encoded.legacy_mu);
  if (auto shared = encoded.legacy.lock()) return shared;  // another reply won the race
  encoded.legacy = bytes;
  if (recent != nullptr && encoded.reused_across_reads) recent->Keep(bytes);
  return bytes;
}

grpc::Slice LegacySlice(std::shared_ptr<const LegacyBytes> bytes) {
  auto* owner = new std::shared_ptr<const LegacyBytes>(std::move(bytes));
  return grpc::Slice(
      (*owner)->data.get(), (*owner)->size,
      [](void* p) { delete static_cast<std::shared_ptr<const LegacyBytes>*>(p); }, owner);
}

}  // namespace

void RecentLegacyLists::Keep(std::shared_ptr<const LegacyBytes> bytes) {
  std::vector<std::shared_ptr<const LegacyBytes>> dropped;  // freed after unlocking
  absl::MutexLock lock(&mu_);
  bytes_ += bytes->size;
  kept_.push_back(std::move(bytes));
  while (bytes_ > budget_ && !kept_.empty()) {
    bytes_ -= kept_.front()->size;
    dropped.push_back(std::move(kept_.front()));
    kept_.pop_front();
  }
}

grpc::ByteBuffer FoundReplyBytes(const store::StoredWorker& stored, RecentLegacyLists* recent) {
  const std::shared_ptr<const store::WorkerRecord>& record = stored.record;
  const bool cached = record->encoded != nullptr;
  const std::shared_ptr<const EncodedReply> encoded =
      cached ? record->encoded : EncodeReply(*record);
  const std::string_view blob = NixlBlob(*record);  // "" unless set

  grpc::Slice legacy;
  if (encoded->tensor_entries != 0) legacy = LegacySlice(SharedLegacy(*encoded, recent));
  std::string live = LiveWorkerFields(stored.state);
  const std::string_view payload = encoded->payload();
  const size_t worker_size = encoded->worker_head.size() + blob.size() + payload.size() +
                             legacy.size() + live.size();
  std::string head = ReplyPrefix(worker_size);
  head.append(encoded->worker_head);
  live.append(encoded->reply_tail);

  // found | worker{head | blob | payload | legacy | status, updated_at} | tail
  std::vector<grpc::Slice> slices;
  slices.reserve(5);
  slices.emplace_back(head);
  if (!blob.empty()) slices.push_back(SharedSlice(record, blob));
  if (cached) {
    if (!payload.empty()) slices.push_back(SharedSlice(record, payload));
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

absl::StatusOr<grpc::ByteBuffer> GetMetadataReply(
    MetadataService& service, const model_express::p2p::GetMetadataRequest& request,
    RecentLegacyLists* recent) {
  auto stored = service.Find(request);
  if (!stored.ok()) return stored.status();
  if (stored->record == nullptr) return NotFoundReplyBytes(request);
  return FoundReplyBytes(*stored, recent);
}

}  // namespace mx::server
