#include "server/status_map.h"

#include <string>

namespace mx::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering (0..16), so the cast is
  // exact; anything out of range is reported as INTERNAL.
  const int code = static_cast<int>(status.code());
  const auto grpc_code = (code >= 0 && code <= 16) ? static_cast<grpc::StatusCode>(code)
                                                   : grpc::StatusCode::INTERNAL;
  return grpc::Status(grpc_code, std::string(status.message()));
}

}  // namespace mx::server
