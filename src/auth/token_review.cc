#include "auth/token_review.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/token_file.h"

namespace mx::auth {
namespace {

constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";

bool ValidDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenReviewVerifier>> TokenReviewVerifier::Create(
    TokenReviewOptions options, TokenReviewCall call, SteadyClock clock) {
  std::vector<Rule> rules;
  for (const std::string& entry : options.allow) {
    std::string subject = entry;
    Role role = Role::kPublisher;
    std::vector<std::string> models;
    if (size_t eq = entry.find('='); eq != std::string::npos) {
      subject = entry.substr(0, eq);
      std::string_view role_text = std::string_view(entry).substr(eq + 1);
      if (size_t at = role_text.find('@'); at != std::string_view::npos) {
        auto scopes = ParseModelScopes(role_text.substr(at + 1));
        if (!scopes.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("allowlist entry '", entry, "': ", scopes.status().message()));
        }
        models = *std::move(scopes);
        role_text = role_text.substr(0, at);
      }
      auto parsed = ParseRole(role_text);
      if (!parsed) {
        return absl::InvalidArgumentError(
            absl::StrCat("allowlist entry '", entry, "': role must be reader, publisher or admin"));
      }
      role = *parsed;
    }
    std::vector<std::string> parts = absl::StrSplit(subject, ':');
    if (parts.size() != 2 || !ValidDnsLabel(parts[0]) ||
        (parts[1] != "*" && !ValidDnsLabel(parts[1]))) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowlist entry '", entry, "' is not namespace:serviceaccount[=role]"));
    }
    rules.push_back(Rule{parts[0], parts[1], role, std::move(models)});
  }
  if (rules.empty()) {
    return absl::InvalidArgumentError(
        "TokenReview auth needs an allowlist of namespace:serviceaccount");
  }
  options.negative_ttl = std::min(options.negative_ttl, options.cache_ttl);
  return std::unique_ptr<TokenReviewVerifier>(
      new TokenReviewVerifier(std::move(options), std::move(rules), std::move(call),
                              std::move(clock)));
}

TokenReviewVerifier::TokenReviewVerifier(TokenReviewOptions options, std::vector<Rule> rules,
                                         TokenReviewCall call, SteadyClock clock)
    : options_(std::move(options)),
      rules_(std::move(rules)),
      call_(std::move(call)),
      clock_(std::move(clock)),
      bucket_(options_.unknown_reviews_burst),
      bucket_at_(clock_()) {}

nlohmann::json TokenReviewVerifier::Request(std::string_view token) const {
  nlohmann::json spec = {{"token", std::string(token)}};
  if (!options_.audiences.empty()) spec["audiences"] = options_.audiences;
  return {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenReview"}, {"spec", spec}};
}

std::optional<Identity> TokenReviewVerifier::Decide(const nlohmann::json& reply) const {
  if (!reply.is_object()) return std::nullopt;
  auto status = reply.find("status");
  if (status == reply.end() || !status->is_object()) return std::nullopt;
  auto authenticated = status->find("authenticated");
  if (authenticated == status->end() || !authenticated->is_boolean() ||
      !authenticated->get<bool>()) {
    return std::nullopt;
  }
  // With audiences requested, the API server lists the ones the token is
  // valid for; none in common means the token was minted for someone else.
  if (!options_.audiences.empty()) {
    auto audiences = status->find("audiences");
    bool match = false;
    if (audiences != status->end() && audiences->is_array()) {
      for (const auto& a : *audiences) {
        for (const auto& want : options_.audiences) {
          match = match || (a.is_string() && a.get<std::string>() == want);
        }
      }
    }
    if (!match) return std::nullopt;
  }
  auto user = status->find("user");
  if (user == status->end() || !user->is_object()) return std::nullopt;
  auto username = user->find("username");
  if (username == user->end() || !username->is_string()) return std::nullopt;
  const std::string name = username->get<std::string>();
  if (name.rfind(kServiceAccountPrefix, 0) != 0) return std::nullopt;
  std::vector<std::string> parts =
      absl::StrSplit(name.substr(kServiceAccountPrefix.size()), ':');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return std::nullopt;
  // The most specific rule wins: an exact account over the namespace wildcard.
  const Rule* match = nullptr;
  for (const Rule& r : rules_) {
    if (r.namespace_name != parts[0]) continue;
    if (r.service_account == parts[1]) {
      match = &r;
      break;
    }
    if (r.service_account == "*" && match == nullptr) match = &r;
  }
  if (match == nullptr) return std::nullopt;
  return Identity{absl::StrCat(parts[0], ":", parts[1]), match->role, match->models};
}

int64_t TokenReviewVerifier::reviews() const {
  absl::MutexLock lock(&mu_);
  return reviews_;
}

int64_t TokenReviewVerifier::rate_limited() const {
  absl::MutexLock lock(&mu_);
  return rate_limited_;
}

size_t TokenReviewVerifier::cache_size() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

bool TokenReviewVerifier::TakeUnknownReview(std::chrono::steady_clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - bucket_at_).count();
  if (elapsed > 0) {
    bucket_ = std::min(options_.unknown_reviews_burst,
                       bucket_ + elapsed * options_.unknown_reviews_per_sec);
    bucket_at_ = now;
  }
  if (bucket_ < 1) return false;
  bucket_ -= 1;
  return true;
}

void TokenReviewVerifier::Remember(const std::string& digest, std::optional<Identity> identity,
                                   std::chrono::steady_clock::time_point now) {
  const auto expires = now + (identity ? options_.cache_ttl : options_.negative_ttl);
  if (auto it = cache_.find(digest); it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    it->second.identity = std::move(identity);
    it->second.expires = expires;
    return;
  }
  // Overflow evicts the least recently used entry, never the whole cache.
  while (!lru_.empty() && cache_.size() >= options_.max_cache_entries) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(digest);
  cache_.emplace(digest, Entry{std::move(identity), expires, lru_.begin()});
}

absl::StatusOr<std::optional<Identity>> TokenReviewVerifier::Verify(std::string_view token) {
  const std::string digest = TokenDigest(token);
  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&mu_);
    const auto now = clock_();
    bool known_good = false;
    if (auto it = cache_.find(digest); it != cache_.end()) {
      if (now < it->second.expires) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return it->second.identity;
      }
      // Expired: a token accepted before is re-reviewed without the limit.
      known_good = it->second.identity.has_value();
    }
    if (auto f = flights_.find(digest); f != flights_.end()) {
      std::shared_ptr<Flight> shared = f->second;  // someone is asking already
      mu_.Await(absl::Condition(
          +[](Flight* fl) { return fl->done; }, shared.get()));
      return shared->result;
    }
    if (!known_good && !TakeUnknownReview(now)) {
      ++rate_limited_;
      return absl::ResourceExhaustedError(
          "too many reviews of unknown tokens right now; retry later");
    }
    flight = std::make_shared<Flight>();
    flights_[digest] = flight;
    ++reviews_;
  }
  auto reply = call_(Request(token));
  absl::StatusOr<std::optional<Identity>> result;
  if (!reply.ok()) {
    result = absl::UnavailableError(
        absl::StrCat("TokenReview failed: ", reply.status().message()));
  } else {
    result = Decide(*reply);
  }
  absl::MutexLock lock(&mu_);
  if (result.ok()) Remember(digest, *result, clock_());  // errors are not cached
  flight->result = result;
  flight->done = true;
  flights_.erase(digest);
  return result;
}

}  // namespace mx::auth
