// gRPC adapter of mxd.discovery.v1.Discovery: one write reactor per
// WatchSources stream, fed by the WatchHub through a bounded queue.
#ifndef MX_SERVER_WATCH_DISCOVERY_SERVICE_H_
#define MX_SERVER_WATCH_DISCOVERY_SERVICE_H_

#include <cstddef>

#include "discovery.grpc.pb.h"
#include "server/p2p_grpc_service.h"  // Authenticator
#include "server/watch/watch_hub.h"

namespace mx::server::watch {

// WatchSources is served raw: events go out as bytes the hub encoded once
// per change and shares among watchers (the wire is unchanged).
class DiscoveryService final
    : public disc::Discovery::WithRawCallbackMethod_WatchSources<disc::Discovery::Service> {
 public:
  // A watcher with more than `max_queued` events unsent (beyond its
  // snapshot) has fallen behind and is ended with RESOURCE_EXHAUSTED.
  // `auth_pool`, when set, runs the authenticator (it may block: TokenReview).
  DiscoveryService(WatchHub* hub, Authenticator authenticate, size_t max_queued = 1024,
                   ThreadPool* auth_pool = nullptr)
      : hub_(hub),
        authenticate_(std::move(authenticate)),
        max_queued_(max_queued),
        auth_pool_(auth_pool) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSources(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;

 private:
  WatchHub* const hub_;
  const Authenticator authenticate_;
  const size_t max_queued_;
  ThreadPool* const auth_pool_;
};

}  // namespace mx::server::watch

#endif  // MX_SERVER_WATCH_DISCOVERY_SERVICE_H_
