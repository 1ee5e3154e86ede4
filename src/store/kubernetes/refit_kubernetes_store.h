// The refit store on Kubernetes ConfigMaps, shared by every mxd replica in
// the namespace and kept across mxd restarts. One ConfigMap per weight
// version (with its shards and leases), per idempotency record and per
// worker registration; every mutating call is one compare-and-set on
// metadata.resourceVersion, retried on a lost race. Layout, clock and
// limits: docs/refit.md ("Kubernetes").
#ifndef MX_STORE_KUBERNETES_REFIT_KUBERNETES_STORE_H_
#define MX_STORE_KUBERNETES_REFIT_KUBERNETES_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/kubernetes/kubernetes_options.h"
#include "store/refit_store.h"

namespace mx::store {

struct RefitKubernetesOptions {
  KubernetesOptions api;  // server, credentials, namespace, timeouts
  // See RefitMemoryOptions::retention_ms (0: keep released versions).
  int64_t retention_ms = 0;
  // Unix ms; this process's wall clock when empty (tests may skew it).
  std::function<int64_t()> clock;
  // Random uid source (tests force collisions); RandomRefitUid when empty.
  std::function<std::string()> new_uid;
  // Compare-and-set rounds per call before giving up with Aborted.
  int cas_attempts = 64;
};

// Connects: one cheap list proves access (401/403 -> Unavailable with the
// reason). Afterwards every call fails with Unavailable while the API
// server cannot be reached, and works again when it can.
absl::StatusOr<std::unique_ptr<RefitStore>> ConnectRefitKubernetesStore(
    const RefitKubernetesOptions& options);

}  // namespace mx::store

#endif  // MX_STORE_KUBERNETES_REFIT_KUBERNETES_STORE_H_
