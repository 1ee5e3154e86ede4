// A raw gRPC channel for mxctl commands that call mxd's own services
// (RefitService, mxd.refit, mxd.admin.v1) rather than P2pService through
// mx::Client: same address, TLS, token and deadline as the global flags.
#ifndef MX_CLI_GRPC_CONN_H_
#define MX_CLI_GRPC_CONN_H_

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "cli/command.h"

namespace mx::cli {

struct Conn {
  std::shared_ptr<grpc::Channel> channel;
  ClientOptions options;
  // A context with the call deadline and the bearer token, if any.
  std::unique_ptr<grpc::ClientContext> Context() const;
};

absl::StatusOr<Conn> Connect(const Context& ctx);

// The gRPC status as absl::Status (same code, same message).
absl::Status FromGrpc(const grpc::Status& s);

}  // namespace mx::cli

#endif  // MX_CLI_GRPC_CONN_H_
