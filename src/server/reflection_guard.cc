#include "server/reflection_guard.h"

#include <string_view>

namespace mx::server {
namespace {

class ReflectionGuard final : public grpc::experimental::Interceptor {
 public:
  ReflectionGuard(const TokenVerifier* verify, grpc::experimental::ServerRpcInfo* info)
      : verify_(verify), info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      bool allowed = false;
      if (auto* md = methods->GetRecvInitialMetadata(); md != nullptr) {
        auto it = md->find("authorization");
        if (it != md->end()) {
          const std::string_view token =
              BearerToken(std::string_view(it->second.data(), it->second.size()));
          if (!token.empty()) {
            auto who = (*verify_)(token);
            allowed = who.ok() && who->has_value();
          }
        }
      }
      if (!allowed) info_->server_context()->TryCancel();
    }
    methods->Proceed();
  }

 private:
  const TokenVerifier* const verify_;
  grpc::experimental::ServerRpcInfo* const info_;
};

}  // namespace

grpc::experimental::Interceptor* ReflectionGuardFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const std::string_view method = info->method() == nullptr ? "" : info->method();
  if (method.rfind("/grpc.reflection.", 0) != 0) return nullptr;
  return new ReflectionGuard(&verify_, info);
}

}  // namespace mx::server
