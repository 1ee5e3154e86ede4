#include "server/token_review_call.h"

namespace mx::server {

absl::StatusOr<auth::TokenReviewCall> MakeTokenReviewCall(const store::KubernetesOptions&) {
  // The Kubernetes API client is not on this branch yet.
  return absl::FailedPreconditionError(
      "--auth-tokenreview needs an mxd built with MX_WITH_KUBERNETES");
}

}  // namespace mx::server
