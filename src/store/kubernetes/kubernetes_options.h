// Typed configuration of the Kubernetes ConfigMap store.
#ifndef MX_STORE_KUBERNETES_KUBERNETES_OPTIONS_H_
#define MX_STORE_KUBERNETES_KUBERNETES_OPTIONS_H_

#include <chrono>
#include <string>

namespace mx::store {

struct KubernetesOptions {
  // Empty: in-cluster (KUBERNETES_SERVICE_HOST/_PORT resolved by the server).
  std::string api_url;
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  bool insecure_skip_tls_verify = false;
  std::string namespace_name;
  std::chrono::milliseconds request_timeout{5000};
};

}  // namespace mx::store

#endif  // MX_STORE_KUBERNETES_KUBERNETES_OPTIONS_H_
