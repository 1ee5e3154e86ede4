// The Kubernetes ConfigMap store: worker records as ConfigMaps in mxd's
// namespace, shared by every mxd replica, garbage-collected with the
// publishing pod. Layout and behaviour: docs/kubernetes-store.md.
#ifndef MX_STORE_KUBERNETES_KUBERNETES_STORE_H_
#define MX_STORE_KUBERNETES_KUBERNETES_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "store/kubernetes/kubernetes_options.h"
#include "store/store.h"

namespace mx::store {

// Fills what `options` leaves empty from the pod's environment: api_url
// from KUBERNETES_SERVICE_HOST/_PORT, namespace_name from
// MX_METADATA_NAMESPACE, else POD_NAMESPACE, else the service-account
// namespace file. FailedPrecondition when something is still missing.
// Reads the environment: call it at the edge (server config), not deeper.
absl::StatusOr<KubernetesOptions> ResolveInClusterDefaults(KubernetesOptions options);

// Connects: proves access with one cheap list (401 -> Unauthenticated,
// 403 -> PermissionDenied naming the missing RBAC rule), starts the
// list-then-watch cache and waits for its first sync (Unavailable when it
// does not sync within options.sync_timeout).
absl::StatusOr<std::unique_ptr<Store>> ConnectKubernetesStore(const KubernetesOptions& options);

}  // namespace mx::store

#endif  // MX_STORE_KUBERNETES_KUBERNETES_STORE_H_
