// Puts gRPC server reflection behind auth (--reflection-requires-auth): a
// server interceptor that, when a reflection call's metadata arrives,
// cancels the call unless it carries a token the verifier accepts (any
// role). Reflection is a separate gRPC service, so the P2pService auth hook
// does not see it. The caller sees CANCELLED: gRPC 1.51 interceptors cannot
// choose the status.
#ifndef MX_SERVER_REFLECTION_GUARD_H_
#define MX_SERVER_REFLECTION_GUARD_H_

#include <grpcpp/support/server_interceptor.h>

#include "server/authenticator.h"

namespace mx::server {

class ReflectionGuardFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ReflectionGuardFactory(TokenVerifier verify) : verify_(std::move(verify)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const TokenVerifier verify_;
};

}  // namespace mx::server

#endif  // MX_SERVER_REFLECTION_GUARD_H_
