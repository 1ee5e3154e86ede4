// The Kubernetes ConfigMap store: worker records as ConfigMaps in mxd's
// namespace, shared by every mxd replica, garbage-collected with the
// publishing pod. Layout and behaviour: docs/kubernetes-store.md.
#ifndef MX_STORE_KUBERNETES_KUBERNETES_STORE_H_
#define MX_STORE_KUBERNETES_KUBERNETES_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "store/kubernetes/kubernetes_options.h"
#include "store/store.h"

namespace mx::store {

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Fills what `options` leaves empty from the pod's environment: api_url
// from KUBERNETES_SERVICE_HOST/_PORT, namespace_name from
// MX_METADATA_NAMESPACE, else POD_NAMESPACE, else the service-account
// namespace file (options.service_account_dir). FailedPrecondition when
// something is still missing. Call it at the edge (server config).
absl::StatusOr<KubernetesOptions> ResolveInClusterDefaults(KubernetesOptions options,
                                                           const EnvLookup& env);
// The same with the process environment (getenv).
absl::StatusOr<KubernetesOptions> ResolveInClusterDefaults(KubernetesOptions options);

// Connects: proves access with one cheap list (401 -> Unavailable,
// 403 -> Unavailable naming the missing RBAC rule), starts the
// list-then-watch cache and waits for its first sync (Unavailable when it
// does not sync within options.sync_timeout).
absl::StatusOr<std::unique_ptr<Store>> ConnectKubernetesStore(const KubernetesOptions& options);

}  // namespace mx::store

#endif  // MX_STORE_KUBERNETES_KUBERNETES_STORE_H_
