// Typed configuration of the Kubernetes ConfigMap store.
#ifndef MX_STORE_KUBERNETES_KUBERNETES_OPTIONS_H_
#define MX_STORE_KUBERNETES_KUBERNETES_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <string>

namespace mx::store {

struct KubernetesOptions {
  // Empty: in-cluster; ResolveInClusterDefaults (kubernetes_store.h) fills it
  // from KUBERNETES_SERVICE_HOST/_PORT.
  std::string api_url;
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string token;  // literal token, used only when token_file is empty (tests)
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  bool insecure_skip_tls_verify = false;
  std::string namespace_name;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{2000};
  // Attempts per API request on 429/5xx/timeouts (jittered exponential backoff).
  int max_attempts = 4;
  // Compare-and-set rounds on 409 Conflict before giving up with Aborted.
  int conflict_retries = 16;
  // A compressed tensor table up to this size is kept in the head ConfigMap;
  // larger ones go to chunk ConfigMaps. Heads travel on every watch event, so
  // they are kept small.
  size_t inline_table_max_bytes = 32 * 1024;
  // Bytes of compressed table per chunk ConfigMap (the API limit is 1 MiB).
  size_t chunk_bytes = 512 * 1024;
  int list_page_size = 500;
  // Server-side timeoutSeconds of the cache's watch (capped at 2/3 of
  // watch_idle_timeout).
  std::chrono::seconds watch_timeout{300};
  // Watchdog: a watch that shows no event or bookmark for this long is cut
  // and the cache relists.
  std::chrono::milliseconds watch_idle_timeout{60000};
  // The cache answers (and health is SERVING) only while it was confirmed
  // in sync (list, event, bookmark, cleanly ended watch) this recently.
  std::chrono::milliseconds max_staleness{90000};
  // Sweeper: every sweep_interval (0: never) chunk generations no head
  // references, and pending heads, older than sweep_grace are deleted.
  std::chrono::milliseconds sweep_interval{300000};
  std::chrono::milliseconds sweep_grace{600000};
  // ConnectKubernetesStore waits this long for the first list of the cache.
  std::chrono::milliseconds sync_timeout{15000};
  // Where ResolveInClusterDefaults looks for the namespace file.
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

}  // namespace mx::store

#endif  // MX_STORE_KUBERNETES_KUBERNETES_OPTIONS_H_
