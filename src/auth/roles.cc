#include "auth/roles.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mx::auth {

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "reader") return Role::kReader;
  if (text == "publisher") return Role::kPublisher;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kPublisher:
      return "publisher";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<std::vector<std::string>> ParseModelScopes(std::string_view text) {
  constexpr size_t kMaxPatterns = 32;
  constexpr size_t kMaxPatternBytes = 1024;
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(absl::string_view(text.data(), text.size()), ';')) {
    if (p.empty() || p.size() > kMaxPatternBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model pattern must be 1..", kMaxPatternBytes, " bytes (patterns are separated by ';')"));
    }
    for (size_t i = 0; i < p.size(); ++i) {
      const char c = p[i];
      if (c <= ' ' || c > '~' || c == ',' || (c == '*' && i + 1 != p.size())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model pattern '", p, "': printable characters without spaces or commas, '*' only "
            "at the end"));
      }
    }
    out.emplace_back(p);
  }
  if (out.size() > kMaxPatterns) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxPatterns, " model patterns"));
  }
  return out;
}

bool ModelInScope(const std::vector<std::string>& models, std::string_view model_name) {
  if (models.empty()) return true;
  const absl::string_view name(model_name.data(), model_name.size());
  for (const std::string& p : models) {
    if (!p.empty() && p.back() == '*') {
      if (absl::StartsWith(name, absl::string_view(p).substr(0, p.size() - 1))) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

bool RoleAllows(Role role, std::string_view method) {
  if (role == Role::kAdmin) return true;
  if (method == "ListSources" || method == "GetMetadata" || method == "WatchSources") return true;
  if (method == "PublishMetadata" || method == "UpdateStatus") return role == Role::kPublisher;
  // RefitService: reads for readers, every write for publishers (no ownership:
  // a refit worker_id is a plain string that proves nothing).
  if (method == "GetWeightVersion" || method == "ListWeightVersionShards" ||
      method == "RefitSnapshot") {
    return true;
  }
  if (method == "CreateWeightVersion" || method == "DeleteWeightVersion" ||
      method == "RegisterWorker" || method == "CreateWeightVersionShard" ||
      method == "DeleteWeightVersionShard" || method == "RegisterVersionLease" ||
      method == "DeleteVersionLease") {
    return role == Role::kPublisher;
  }
  // mxd.admin.v1 (RemoveWorker, RemoveSource) and anything unknown: admins only.
  return false;
}

}  // namespace mx::auth
