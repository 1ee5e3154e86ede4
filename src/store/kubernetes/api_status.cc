// HTTP status + metav1.Status body -> absl::Status, in one place.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "store/kubernetes/api_client.h"

namespace mx::store::kube {
namespace {

std::string Describe(const RequestInfo& info) {
  std::string what = absl::StrCat(info.verb, " ", info.resource);
  if (!info.name.empty()) absl::StrAppend(&what, " \"", info.name, "\"");
  if (!info.namespace_name.empty()) absl::StrAppend(&what, " in namespace ", info.namespace_name);
  return what;
}

}  // namespace

absl::Status StatusFromResponse(long code, std::string_view body, const RequestInfo& info) {
  if (code >= 200 && code < 300) return absl::OkStatus();
  std::string reason;
  std::string message(body.substr(0, 512));
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  // A proxy may answer anything: json::value() throws on a non-string.
  auto text_field = [&parsed](const char* key) -> std::string {
    auto it = parsed.find(key);
    return it != parsed.end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (parsed.is_object() && text_field("kind") == "Status") {
    reason = text_field("reason");
    message = text_field("message");
  }
  const std::string text = absl::StrCat("kubernetes API: ", Describe(info), ": HTTP ", code,
                                        reason.empty() ? "" : " ", reason, ": ", message);
  switch (code) {
    case 400:
    case 415:
      return absl::InvalidArgumentError(text);
    // 401/403 judge mxd's own service account, not the caller: callers see
    // UNAVAILABLE ("the store is unusable"), never a verdict on their token.
    case 401:
      return absl::UnavailableError(absl::StrCat(
          "kubernetes store: ", text,
          " (mxd's own bearer token is missing, expired or not accepted; check the "
          "service-account token file)"));
    case 403:
      return absl::UnavailableError(absl::StrCat(
          "kubernetes store: ",
          text, " (RBAC: grant this service account a Role rule with verbs [\"", info.verb,
          "\"] on resources [\"", info.resource, "\"] in namespace \"", info.namespace_name,
          "\"; see deploy/kubernetes/rbac.yaml)"));
    case 404:
      return absl::NotFoundError(text);
    case 409:
      if (reason == "AlreadyExists") return absl::AlreadyExistsError(text);
      return absl::AbortedError(text);
    case 410:
      return absl::OutOfRangeError(text);
    case 413:
      return absl::ResourceExhaustedError(text);
    case 422:
      if (absl::StrContains(message, "Too long") ||
          absl::StrContains(message, "must have at most")) {
        return absl::ResourceExhaustedError(text);
      }
      return absl::InvalidArgumentError(text);
    default:
      return absl::UnavailableError(text);
  }
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      AppendHexByte(c, HexCase::kUpper, &out);
    }
  }
  return out;
}

}  // namespace mx::store::kube
