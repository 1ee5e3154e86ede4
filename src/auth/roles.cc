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
  if (method == "ListSources" || method == "GetMetadata") return true;
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
  return false;
}

}  // namespace mx::auth
