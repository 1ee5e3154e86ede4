// ConnectKubernetesStore and in-cluster discovery.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "spdlog/spdlog.h"
#include "store/kubernetes/kubernetes_store.h"
#include "store/kubernetes/kubernetes_store_impl.h"

namespace mx::store {
namespace {

std::string Env(const EnvLookup& env, const char* name) {
  const std::optional<std::string> value = env(name);
  return value ? std::string(absl::StripAsciiWhitespace(*value)) : "";
}

// Empty when the file is missing or unreadable: these are optional defaults.
std::string ReadFile(const std::string& path) {
  auto text = ReadFileToString(path);
  return text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "";
}

}  // namespace

absl::StatusOr<KubernetesOptions> ResolveInClusterDefaults(KubernetesOptions options) {
  return ResolveInClusterDefaults(std::move(options),
                                  [](const std::string& name) -> std::optional<std::string> {
                                    const char* value = std::getenv(name.c_str());
                                    if (value == nullptr) return std::nullopt;
                                    return std::string(value);
                                  });
}

absl::StatusOr<KubernetesOptions> ResolveInClusterDefaults(KubernetesOptions options,
                                                           const EnvLookup& env) {
  if (options.api_url.empty()) {
    const std::string host = Env(env, "KUBERNETES_SERVICE_HOST");
    std::string port = Env(env, "KUBERNETES_SERVICE_PORT");
    if (host.empty()) {
      return absl::FailedPreconditionError(
          "no Kubernetes API server: KUBERNETES_SERVICE_HOST is unset (not in a pod?); "
          "pass --k8s-api-url");
    }
    if (port.empty()) port = "443";
    const bool ipv6 = absl::StrContains(host, ':');
    options.api_url = absl::StrCat("https://", ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port);
  }
  if (options.namespace_name.empty()) options.namespace_name = Env(env, "MX_METADATA_NAMESPACE");
  if (options.namespace_name.empty()) options.namespace_name = Env(env, "POD_NAMESPACE");
  if (options.namespace_name.empty()) {
    options.namespace_name = ReadFile(options.service_account_dir + "/namespace");
  }
  if (options.namespace_name.empty()) {
    return absl::FailedPreconditionError(
        "no namespace for the kubernetes store: set --namespace, MX_METADATA_NAMESPACE or "
        "POD_NAMESPACE");
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Store>> ConnectKubernetesStore(const KubernetesOptions& options) {
  if (options.api_url.empty()) {
    return absl::FailedPreconditionError(
        "kubernetes store: no API URL (pass --k8s-api-url, or run in a pod)");
  }
  if (!kube::IsDns1123Label(options.namespace_name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubernetes store: namespace '", options.namespace_name, "' is not a valid DNS-1123 label"));
  }
  // Outside a pod the service-account defaults do not exist: say so plainly.
  if (!options.token_file.empty() && access(options.token_file.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kubernetes store: token file ", options.token_file,
        " is not readable (outside a pod pass --k8s-token-file, or an empty one for none)"));
  }
  if (absl::StartsWith(options.api_url, "https://") && !options.insecure_skip_tls_verify &&
      !options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kubernetes store: CA file ", options.ca_file,
        " is not readable (pass --k8s-ca-file, or --k8s-insecure-skip-tls-verify for development)"));
  }
  if (options.token_file.empty() && options.token.empty()) {
    spdlog::warn("kubernetes store: no bearer token configured; requests are anonymous");
  }
  if (options.insecure_skip_tls_verify) {
    spdlog::warn("kubernetes store: TLS verification of {} is DISABLED "
                 "(--k8s-insecure-skip-tls-verify); use only for development",
                 options.api_url);
  } else if (absl::StartsWith(options.api_url, "http://")) {
    spdlog::warn("kubernetes store: {} is plain HTTP; the token travels unencrypted",
                 options.api_url);
  }
  auto store = std::make_unique<kube::KubernetesStore>(options);
  if (absl::Status started = store->Start(); !started.ok()) return started;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace mx::store
