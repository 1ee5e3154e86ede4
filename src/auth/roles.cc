#include "auth/roles.h"

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

bool RoleAllows(Role role, std::string_view method) {
  if (role == Role::kAdmin) return true;
  if (method == "ListSources" || method == "GetMetadata" || method == "WatchSources") return true;
  if (method == "PublishMetadata" || method == "UpdateStatus") return role == Role::kPublisher;
  return false;
}

}  // namespace mx::auth
