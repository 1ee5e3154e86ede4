// The retry loop every Client call goes through, and the one place gRPC
// statuses become absl ones.
#ifndef MX_CLIENT_CALL_H_
#define MX_CLIENT_CALL_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/status/status.h"
#include "mx/client.h"
#include "discovery.grpc.pb.h"
#include "p2p.grpc.pb.h"

namespace mx {

struct Client::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<p2p::P2pService::Stub> stub;
  std::unique_ptr<grpc::GenericStub> generic;
  std::unique_ptr<mxd::discovery::v1::Discovery::Stub> discovery;
};

namespace client {

using Attempt = std::function<grpc::Status(grpc::ClientContext*)>;

// Runs `attempt` until it succeeds, fails with a status that is not
// retryable, runs out of attempts or the call's deadline passes. Each
// attempt gets a fresh context with its deadline and the bearer token.
// The result names `method` so a one-line error says what failed.
absl::Status RunCall(const ClientOptions& options, const CallOptions& call,
                     const std::string& method, const Attempt& attempt);

absl::Status FromGrpc(const grpc::Status& status, const std::string& method,
                      const std::string& address);

}  // namespace client
}  // namespace mx

#endif  // MX_CLIENT_CALL_H_
