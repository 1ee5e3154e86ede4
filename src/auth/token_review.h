// Kubernetes ServiceAccount tokens checked with a TokenReview: the API
// server says whether a token is valid (for our audiences) and whose it is;
// an allowlist of namespace:serviceaccount decides the role.
//
// The HTTP call is injected (a TokenReviewCall), so this file knows the
// TokenReview contract and the cache, not the transport: mxd plugs in the
// Kubernetes ApiClient, tests plug in a fake.
#ifndef MX_AUTH_TOKEN_REVIEW_H_
#define MX_AUTH_TOKEN_REVIEW_H_

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auth/roles.h"

namespace mx::auth {

// POSTs a TokenReview object to the API server and returns the reply object.
// Any error (network, 5xx, 403 for missing RBAC) means "cannot tell".
using TokenReviewCall = std::function<absl::StatusOr<nlohmann::json>(const nlohmann::json&)>;

struct TokenReviewOptions {
  // Sent as spec.audiences; the token must be valid for one of them. Empty:
  // the API server's default audience.
  std::vector<std::string> audiences;
  // "namespace:serviceaccount" or "namespace:serviceaccount=role" (role
  // reader, publisher or admin; default publisher); "namespace:*" matches
  // every service account of the namespace.
  std::vector<std::string> allow;
  std::chrono::seconds cache_ttl{60};       // for accepted tokens
  std::chrono::seconds negative_ttl{10};    // for rejected ones (capped by cache_ttl)
  size_t max_cache_entries = 10000;
};

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

// Thread-safe.
class TokenReviewVerifier {
 public:
  // InvalidArgument for a malformed allowlist entry or an empty allowlist.
  static absl::StatusOr<std::unique_ptr<TokenReviewVerifier>> Create(
      TokenReviewOptions options, TokenReviewCall call,
      SteadyClock clock = std::chrono::steady_clock::now);

  // The identity ("namespace:serviceaccount" and its role), nullopt when
  // the token is invalid, for another audience or not allowlisted, and
  // Unavailable (not cached) when the API server could not answer.
  absl::StatusOr<std::optional<Identity>> Verify(std::string_view token);

  // The TokenReview request for `token` (exposed for tests).
  nlohmann::json Request(std::string_view token) const;

  // Decides a TokenReview reply (exposed for tests and the fuzzer).
  std::optional<Identity> Decide(const nlohmann::json& reply) const;

 private:
  struct Rule {
    std::string namespace_name;
    std::string service_account;  // "*" for any
    Role role;
  };
  struct Entry {
    std::optional<Identity> identity;
    std::chrono::steady_clock::time_point expires;
  };
  TokenReviewVerifier(TokenReviewOptions options, std::vector<Rule> rules, TokenReviewCall call,
                      SteadyClock clock);

  const TokenReviewOptions options_;
  const std::vector<Rule> rules_;
  const TokenReviewCall call_;
  const SteadyClock clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);  // token digest →
};

}  // namespace mx::auth

#endif  // MX_AUTH_TOKEN_REVIEW_H_
