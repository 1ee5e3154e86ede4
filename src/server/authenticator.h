// Bearer-token authentication and role checks for P2pService calls,
// plugged into P2pGrpcService through its Authenticator hook (so the
// health service stays open). Rejections are counted, never logged with
// the token.
#ifndef MX_SERVER_AUTHENTICATOR_H_
#define MX_SERVER_AUTHENTICATOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "auth/roles.h"
#include "server/p2p_grpc_service.h"
#include "server/server_metrics.h"

namespace mx::server {

// Maps a bearer token to an identity: nullopt for an unknown token,
// Unavailable when the authority cannot be asked (e.g. TokenReview down).
using TokenVerifier =
    std::function<absl::StatusOr<std::optional<auth::Identity>>(std::string_view token)>;

// The token of an "authorization: Bearer <token>" header; empty if absent
// or malformed.
std::string_view BearerToken(std::string_view header);

// Decides a call from its authorization header value (nullopt: absent).
// UNAUTHENTICATED for a missing/unknown token, PERMISSION_DENIED for a role
// that may not call `method`; publishers may only touch their own records.
absl::StatusOr<Caller> Authorize(const TokenVerifier& verify,
                                 std::optional<std::string_view> authorization,
                                 std::string_view method);

// The gRPC hook; `metrics` may be null.
Authenticator MakeAuthenticator(TokenVerifier verify, ServerMetrics* metrics);

}  // namespace mx::server

#endif  // MX_SERVER_AUTHENTICATOR_H_
