#include "server/token_review_call.h"

#ifdef MX_WITH_KUBERNETES
#include <memory>

#include "store/kubernetes/api_client.h"
#include "store/kubernetes/kubernetes_store.h"
#endif

namespace mx::server {

#ifdef MX_WITH_KUBERNETES
absl::StatusOr<auth::TokenReviewCall> MakeTokenReviewCall(
    const store::KubernetesOptions& options) {
  store::KubernetesOptions resolved = options;
  if (resolved.api_url.empty()) {
    auto in_cluster = store::ResolveInClusterDefaults(options);
    if (!in_cluster.ok()) return in_cluster.status();
    resolved = *std::move(in_cluster);
  }
  store::kube::ApiClientOptions api;
  api.base_url = resolved.api_url;
  api.token_file = resolved.token_file;
  api.token = resolved.token;
  api.ca_file = resolved.ca_file;
  api.insecure_skip_tls_verify = resolved.insecure_skip_tls_verify;
  api.request_timeout = resolved.request_timeout;
  api.connect_timeout = resolved.connect_timeout;
  // A caller is waiting: retry once, then answer UNAVAILABLE.
  api.max_attempts = 2;
  auto client = std::make_shared<store::kube::ApiClient>(api);
  return auth::TokenReviewCall(
      [client](const nlohmann::json& request) -> absl::StatusOr<nlohmann::json> {
        const store::kube::RequestInfo info{"create", "tokenreviews", "", ""};
        return client->Call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", &request,
                            "application/json", info);
      });
}
#else
absl::StatusOr<auth::TokenReviewCall> MakeTokenReviewCall(const store::KubernetesOptions&) {
  return absl::FailedPreconditionError(
      "--auth-tokenreview needs an mxd built with MX_WITH_KUBERNETES");
}
#endif

}  // namespace mx::server
