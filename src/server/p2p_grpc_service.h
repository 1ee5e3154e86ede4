// gRPC adapter for P2pService: unpacks calls, runs MetadataService inline
// (memory store) or on the store thread pool (network stores), and maps
// errors to gRPC status codes.
#ifndef MX_SERVER_P2P_GRPC_SERVICE_H_
#define MX_SERVER_P2P_GRPC_SERVICE_H_

#include <functional>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "p2p.grpc.pb.h"
#include "server/get_reply.h"
#include "server/metadata_service.h"
#include "server/thread_pool.h"

namespace mx::server {

// Establishes who is calling `method` ("PublishMetadata", ...). The default
// (auth off) admits everyone as an anonymous caller that may touch anything.
using Authenticator =
    std::function<absl::StatusOr<Caller>(grpc::CallbackServerContext* context,
                                         std::string_view method)>;

// PublishMetadata and GetMetadata are raw (ByteBuffer) methods: Publish
// parses into a request it owns and moves it into the record, GetMetadata
// answers with bytes encoded once at publish (server/get_reply.h).
using P2pCallbackBase = model_express::p2p::P2pService::WithRawCallbackMethod_PublishMetadata<
    model_express::p2p::P2pService::WithRawCallbackMethod_GetMetadata<
        model_express::p2p::P2pService::WithCallbackMethod_ListSources<
            model_express::p2p::P2pService::WithCallbackMethod_UpdateStatus<
                model_express::p2p::P2pService::Service>>>>;

class P2pGrpcService final : public P2pCallbackBase {
 public:
  // `pool` may be null when `blocking` is false.
  P2pGrpcService(MetadataService* service, ThreadPool* pool, bool blocking,
                 Authenticator authenticate = nullptr);

  grpc::ServerUnaryReactor* PublishMetadata(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListSources(grpc::CallbackServerContext* context,
                                        const model_express::p2p::ListSourcesRequest* request,
                                        model_express::p2p::ListSourcesResponse* response) override;
  grpc::ServerUnaryReactor* GetMetadata(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateStatus(
      grpc::CallbackServerContext* context,
      const model_express::p2p::UpdateStatusRequest* request,
      model_express::p2p::UpdateStatusResponse* response) override;

  // Refuses new calls with UNAVAILABLE from now on, then waits until the
  // calls already running have finished or `deadline` passes. True if idle.
  bool Drain(absl::Time deadline);

  const Authenticator& authenticator() const { return authenticate_; }

 private:
  // Runs `work(caller)` where store I/O is allowed and finishes the call.
  grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context,
                                     std::string_view method,
                                     std::function<absl::Status(const Caller&)> work);

  MetadataService* const service_;
  ThreadPool* const pool_;
  const bool blocking_;
  const Authenticator authenticate_;
  // Legacy tensor lists of recently fetched workers (~280 workers of 3,000
  // tensors): a fleet fetching the same workers re-tags each list once.
  RecentLegacyLists recent_legacy_{64u << 20};
  absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mx::server

#endif  // MX_SERVER_P2P_GRPC_SERVICE_H_
