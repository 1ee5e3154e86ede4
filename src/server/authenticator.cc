#include "server/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mx::server {

std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return {};
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

absl::StatusOr<Caller> Authorize(const TokenVerifier& verify,
                                 std::optional<std::string_view> authorization,
                                 std::string_view method) {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  const std::string_view token = BearerToken(*authorization);
  if (token.empty()) {
    return absl::UnauthenticatedError("authorization metadata is not 'Bearer <token>'");
  }
  auto identity = verify(token);
  if (absl::IsResourceExhausted(identity.status())) return identity.status();  // rate limit
  if (!identity.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot verify the token now: ", identity.status().message()));
  }
  if (!identity->has_value()) return absl::UnauthenticatedError("unknown or expired token");
  const auth::Identity& who = **identity;
  if (!auth::RoleAllows(who.role, method)) {
    return absl::PermissionDeniedError(absl::StrCat("'", who.name, "' (role ",
                                                    auth::RoleName(who.role), ") may not call ",
                                                    std::string(method)));
  }
  Caller caller;
  caller.principal = who.name;
  caller.may_touch_any = who.role == auth::Role::kAdmin;
  caller.models = who.models;
  return caller;
}

Authenticator MakeAuthenticator(TokenVerifier verify, ServerMetrics* metrics) {
  return [verify = std::move(verify), metrics](grpc::CallbackServerContext* context,
                                               std::string_view method) -> absl::StatusOr<Caller> {
    std::optional<std::string_view> header;
    const auto& md = context->client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) {
      header = std::string_view(it->second.data(), it->second.size());
    }
    auto caller = Authorize(verify, header, method);
    if (caller.ok()) {
      auto t = md.find("x-mx-transfer-owner");
      caller->transfer_owner =
          t != md.end() && std::string_view(t->second.data(), t->second.size()) == "true";
    }
    if (!caller.ok() && metrics != nullptr) {
      const char* reason = absl::IsPermissionDenied(caller.status())    ? "permission_denied"
                           : absl::IsUnavailable(caller.status())       ? "verifier_unavailable"
                           : absl::IsResourceExhausted(caller.status()) ? "rate_limited"
                                                                         : "unauthenticated";
      metrics->auth_rejections->With({reason})->Increment();
    }
    return caller;
  };
}

}  // namespace mx::server
