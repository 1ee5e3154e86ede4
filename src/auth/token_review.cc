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
    if (size_t eq = entry.find('='); eq != std::string::npos) {
      subject = entry.substr(0, eq);
      auto parsed = ParseRole(std::string_view(entry).substr(eq + 1));
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
    rules.push_back(Rule{parts[0], parts[1], role});
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
      clock_(std::move(clock)) {}

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
  return Identity{absl::StrCat(parts[0], ":", parts[1]), match->role};
}

absl::StatusOr<std::optional<Identity>> TokenReviewVerifier::Verify(std::string_view token) {
  const std::string digest = TokenDigest(token);
  const auto now = clock_();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(digest);
    if (it != cache_.end()) {
      if (now < it->second.expires) return it->second.identity;
      cache_.erase(it);
    }
  }
  auto reply = call_(Request(token));
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("TokenReview failed: ", reply.status().message()));
  }
  std::optional<Identity> identity = Decide(*reply);
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= options_.max_cache_entries) {
    // Drop what expired; if that is not enough, start over (bounded memory
    // matters more than a few extra reviews).
    for (auto it = cache_.begin(); it != cache_.end();) {
      auto next = std::next(it);
      if (it->second.expires <= now) cache_.erase(it);
      it = next;
    }
    if (cache_.size() >= options_.max_cache_entries) cache_.clear();
  }
  cache_[digest] =
      Entry{identity, now + (identity ? options_.cache_ttl : options_.negative_ttl)};
  return identity;
}

}  // namespace mx::auth
