// The transport of TokenReview requests: a POST to the Kubernetes API
// server through the shared Kubernetes API client.
#ifndef MX_SERVER_TOKEN_REVIEW_CALL_H_
#define MX_SERVER_TOKEN_REVIEW_CALL_H_

#include "absl/status/statusor.h"
#include "auth/token_review.h"
#include "store/kubernetes/kubernetes_options.h"

namespace mx::server {

// FailedPrecondition when this mxd was built without Kubernetes support.
absl::StatusOr<auth::TokenReviewCall> MakeTokenReviewCall(
    const store::KubernetesOptions& options);

}  // namespace mx::server

#endif  // MX_SERVER_TOKEN_REVIEW_CALL_H_
