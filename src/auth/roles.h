// Who may call what. Roles are ordered: each includes the one before.
#ifndef MX_AUTH_ROLES_H_
#define MX_AUTH_ROLES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mx::auth {

enum class Role {
  kReader,     // ListSources, GetMetadata
  kPublisher,  // also PublishMetadata and UpdateStatus, only on records it published
  kAdmin,      // everything, on every record
};

struct Identity {
  std::string name;  // stored as the owner of what this caller publishes
  Role role = Role::kReader;
  // Publish scope: model names this identity may publish; empty means any.
  // Each pattern is a model name, or a prefix followed by '*'.
  std::vector<std::string> models;
};

// Parses "pattern;pattern;..." (1..32 patterns of 1..1024 bytes, no spaces,
// '*' only at the end). InvalidArgument says what is wrong.
absl::StatusOr<std::vector<std::string>> ParseModelScopes(std::string_view text);

// True when `models` is empty or one pattern matches `model_name`.
bool ModelInScope(const std::vector<std::string>& models, std::string_view model_name);

std::optional<Role> ParseRole(std::string_view text);
const char* RoleName(Role role);

// True when `role` may call the P2pService method (e.g. "PublishMetadata").
// Unknown methods are allowed only to admins.
bool RoleAllows(Role role, std::string_view method);

}  // namespace mx::auth

#endif  // MX_AUTH_ROLES_H_
