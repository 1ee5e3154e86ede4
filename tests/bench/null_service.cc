#include "null_service.h"

#include "payloads.h"

namespace mx::bench {

grpc::ByteBuffer ToByteBuffer(const google::protobuf::MessageLite& message) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool ParseByteBuffer(const grpc::ByteBuffer& buffer, google::protobuf::MessageLite* out) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  if (slices.size() == 1) {
    return out->ParseFromArray(slices[0].begin(), static_cast<int>(slices[0].size()));
  }
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out->ParseFromString(bytes);
}

NullService::NullService(int listed_workers, bool parse_publish)
    : parse_publish_(parse_publish) {
  p2p::PublishMetadataResponse publish;
  const p2p::PublishMetadataRequest big = BigWorker(0);
  publish.set_success(true);
  publish.set_message("published");
  publish.set_mx_source_id(RefFor(big).mx_source_id());
  publish.set_worker_id(big.worker_id());
  publish_ = ToByteBuffer(publish);

  p2p::ListSourcesResponse one;
  *one.add_instances() = RefFor(big);
  list_one_ = ToByteBuffer(one);
  p2p::ListSourcesResponse all;
  for (int i = 0; i < listed_workers; ++i) *all.add_instances() = RefFor(FleetWorker(i));
  list_all_ = ToByteBuffer(all);

  get_ = ToByteBuffer(ReplyFor(big));
  get_worst_case_ = ToByteBuffer(ReplyFor(BigWorker(0, kWorstCaseTensors, kWorstCaseTag)));

  p2p::UpdateStatusResponse update;
  update.set_success(true);
  update.set_message("updated");
  update_ = ToByteBuffer(update);
}

grpc::ServerUnaryReactor* NullService::Reply(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer& canned,
                                             grpc::ByteBuffer* response) {
  *response = canned;  // shares the slices; copies no bytes
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* NullService::PublishMetadata(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  if (parse_publish_) {
    // What mxd's parser did before its wire scanner: the generated parser
    // reading the slices in place (no flattening copy), on an arena.
    google::protobuf::Arena arena;
    auto* parsed = google::protobuf::Arena::CreateMessage<p2p::PublishMetadataRequest>(&arena);
    grpc::ByteBuffer shared(*request);  // shares the slices
    grpc::Status status =
        grpc::SerializationTraits<p2p::PublishMetadataRequest>::Deserialize(&shared, parsed);
    if (!status.ok()) {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, status.error_message()));
      return reactor;
    }
  }
  return Reply(context, publish_, response);
}

grpc::ServerUnaryReactor* NullService::ListSources(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  // Filtered listings (the fleet's) answer one ref, "everything" all of them.
  // The request is ~100 bytes; mxd parses it too.
  p2p::ListSourcesRequest parsed;
  const bool filtered = ParseByteBuffer(*request, &parsed) && parsed.has_worker_rank_filter();
  return Reply(context, filtered ? list_one_ : list_all_, response);
}

grpc::ServerUnaryReactor* NullService::GetMetadata(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  p2p::GetMetadataRequest parsed;
  const bool worst = ParseByteBuffer(*request, &parsed) &&
                     parsed.worker_id().find(kWorstCaseTag) != std::string::npos;
  return Reply(context, worst ? get_worst_case_ : get_, response);
}

grpc::ServerUnaryReactor* NullService::UpdateStatus(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer*,
                                                    grpc::ByteBuffer* response) {
  return Reply(context, update_, response);
}

}  // namespace mx::bench
