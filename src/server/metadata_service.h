// P2pService semantics, independent of gRPC plumbing: validation, identity
// hashing, store calls and reply building. Thread-safe (stateless apart
// from the store, which is thread-safe).
#ifndef MX_SERVER_METADATA_SERVICE_H_
#define MX_SERVER_METADATA_SERVICE_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "p2p.pb.h"
#include "server/publish_wire.h"
#include "server/validation.h"
#include "store/store.h"

namespace mx::server {

// Who is calling, as established by authentication (empty when auth is off).
struct Caller {
  std::string principal;
  // False for callers that may only touch records they published.
  bool may_touch_any = true;
  // Model-name patterns this caller may publish; empty: any.
  std::vector<std::string> models;
  // An admin republishing another principal's worker takes it over only
  // when asked to (metadata "x-mx-transfer-owner: true"); otherwise the
  // original owner keeps it.
  bool transfer_owner = false;
};

class MetadataService {
 public:
  // `encode_replies`: publish compact records (store::WorkerRecord::encoded
  // set, tensors kept only as reply bytes). Only for stores that take them
  // (Store::TakesCompactRecords: memory, Redis); stores that serialize
  // records from their parsed fields need the tensors and must get false.
  MetadataService(store::Store* store, std::chrono::seconds heartbeat_timeout,
                  RequestLimits limits = {}, bool encode_replies = false);

  // Errors are returned as absl::Status; the contract's in-band validation
  // failures come back as OK with success=false.
  absl::StatusOr<model_express::p2p::PublishMetadataResponse> Publish(
      const model_express::p2p::PublishMetadataRequest& request, const Caller& caller);
  // Same, taking the request apart instead of copying it (raw gRPC path).
  absl::StatusOr<model_express::p2p::PublishMetadataResponse> Publish(
      model_express::p2p::PublishMetadataRequest&& request, const Caller& caller);
  // Same, from a request read off the wire by ScanPublish (raw gRPC path,
  // compact records only: encodes_replies()). Same answers as parsing the
  // bytes and calling Publish() with the message.
  absl::StatusOr<model_express::p2p::PublishMetadataResponse> Publish(WirePublish&& request,
                                                                      const Caller& caller);
  // True when records keep their tensors only as reply bytes (the memory
  // store): a publish can then be read by ScanPublish.
  bool encodes_replies() const { return encode_replies_; }
  const RequestLimits& limits() const { return limits_; }
  absl::StatusOr<model_express::p2p::ListSourcesResponse> List(
      const model_express::p2p::ListSourcesRequest& request);
  // The same answer as List(), as ListSourcesResponse wire bytes appended
  // to `out`: from the store's encoded refs where it has them
  // (Store::AppendListReply), else List() serialized.
  absl::Status ListBytes(const model_express::p2p::ListSourcesRequest& request, std::string* out);
  // GetMetadata's checks and store read: a null record means found=false.
  // The reply is built from it by GetMetadataReply (server/get_reply.h),
  // the one GetMetadata path.
  absl::StatusOr<store::StoredWorker> Find(const model_express::p2p::GetMetadataRequest& request);
  absl::StatusOr<model_express::p2p::UpdateStatusResponse> UpdateStatus(
      const model_express::p2p::UpdateStatusRequest& request, const Caller& caller);

 private:
  // ListSources' checks and store query (with the READY freshness cut).
  absl::StatusOr<store::ListQuery> ListQueryOf(
      const model_express::p2p::ListSourcesRequest& request);
  // Both Publish paths: `wire` (null for a parsed request) holds the tensor
  // lists `request` lacks.
  absl::StatusOr<model_express::p2p::PublishMetadataResponse> PublishRequest(
      model_express::p2p::PublishMetadataRequest& request, WirePublish* wire,
      const Caller& caller);

  store::Store* const store_;
  const std::chrono::seconds heartbeat_timeout_;
  const RequestLimits limits_;
  const bool encode_replies_;
};

}  // namespace mx::server

#endif  // MX_SERVER_METADATA_SERVICE_H_
