// Builds the gRPC channel a Client uses from its options.
#ifndef MX_CLIENT_CHANNEL_H_
#define MX_CLIENT_CHANNEL_H_

#include <memory>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "mx/client.h"

namespace mx::client {

// options.channel when set; otherwise a new channel to options.address,
// plaintext or TLS. InvalidArgument when a TLS file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

}  // namespace mx::client

#endif  // MX_CLIENT_CHANNEL_H_
