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
#include <list>
#include <map>
#include <memory>
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
  // every service account of the namespace. "=role@pattern;pattern" limits
  // the models it may publish (auth/roles.h ParseModelScopes).
  std::vector<std::string> allow;
  std::chrono::seconds cache_ttl{60};       // for accepted tokens
  std::chrono::seconds negative_ttl{10};    // for rejected ones (capped by cache_ttl)
  size_t max_cache_entries = 10000;         // LRU: overflow evicts the oldest
  // Reviews of tokens not accepted before (in the cache, even expired): a
  // token bucket of this rate and burst. Beyond it such tokens are refused
  // with ResourceExhausted without asking the API server, so a spray of
  // random tokens cannot get mxd throttled for its legitimate callers.
  double unknown_reviews_per_sec = 20;
  double unknown_reviews_burst = 40;
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
  // Concurrent calls with one token share one review; ResourceExhausted
  // when an unknown token is over the review rate limit.
  absl::StatusOr<std::optional<Identity>> Verify(std::string_view token);

  // The TokenReview request for `token` (exposed for tests).
  nlohmann::json Request(std::string_view token) const;

  // Decides a TokenReview reply (exposed for tests and the fuzzer).
  std::optional<Identity> Decide(const nlohmann::json& reply) const;

  // Reviews sent to the API server, and refused by the rate limit.
  int64_t reviews() const;
  int64_t rate_limited() const;
  size_t cache_size() const;

 private:
  struct Rule {
    std::string namespace_name;
    std::string service_account;  // "*" for any
    Role role;
    std::vector<std::string> models;  // publish scope; empty: any
  };
  struct Entry {
    std::optional<Identity> identity;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  // One review in progress; callers with the same token wait for it.
  struct Flight {
    bool done = false;
    absl::StatusOr<std::optional<Identity>> result;
  };
  // Takes one review from the bucket; false when it is empty.
  bool TakeUnknownReview(std::chrono::steady_clock::time_point now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Remember(const std::string& digest, std::optional<Identity> identity,
                std::chrono::steady_clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TokenReviewVerifier(TokenReviewOptions options, std::vector<Rule> rules, TokenReviewCall call,
                      SteadyClock clock);

  const TokenReviewOptions options_;
  const std::vector<Rule> rules_;
  const TokenReviewCall call_;
  const SteadyClock clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);  // token digest →
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);                    // most recent first
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  double bucket_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point bucket_at_ ABSL_GUARDED_BY(mu_);
  int64_t reviews_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rate_limited_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mx::auth

#endif  // MX_AUTH_TOKEN_REVIEW_H_
