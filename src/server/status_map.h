// The one place where absl::Status (stores, core logic) becomes grpc::Status.
#ifndef MX_SERVER_STATUS_MAP_H_
#define MX_SERVER_STATUS_MAP_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace mx::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace mx::server

#endif  // MX_SERVER_STATUS_MAP_H_
