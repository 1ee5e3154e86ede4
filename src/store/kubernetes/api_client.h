// A small client of the Kubernetes REST API (JSON over HTTP(S), libcurl).
// Knows nothing about ConfigMaps: the ConfigMap store and TokenReview auth
// both build on it. Errors are mapped to absl::Status in one place
// (StatusFromResponse) so every caller sees the same codes.
#ifndef MX_STORE_KUBERNETES_API_CLIENT_H_
#define MX_STORE_KUBERNETES_API_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace mx::store::kube {

struct ApiClientOptions {
  std::string base_url;    // "https://10.0.0.1:443" (no trailing slash)
  std::string token_file;  // re-read whenever it changes (projected tokens rotate)
  std::string token;       // used when token_file is empty
  std::string ca_file;     // empty: the system trust store
  bool insecure_skip_tls_verify = false;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{2000};
  // Attempts for 429, 5xx, timeouts and connection errors (1 = no retry).
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{1000};
};

// What a call does, for error messages and the RBAC hint on 403.
struct RequestInfo {
  std::string verb;      // get, list, watch, create, update, patch, delete
  std::string resource;  // configmaps, pods, tokenreviews
  std::string namespace_name;
  std::string name;
};

// Maps an HTTP status and its metav1.Status body to absl::Status:
// 400/415 InvalidArgument, 401 and 403 Unavailable (mxd's own credentials; 403 with
// the Role rule that is missing), 404 NotFound, 409 AlreadyExists (reason
// AlreadyExists) or Aborted (a resourceVersion conflict: re-read and retry),
// 410 OutOfRange (resourceVersion or continue token expired: re-list),
// 413 and size-related 422 ResourceExhausted, other 422 InvalidArgument,
// everything else (429, 5xx) Unavailable.
absl::Status StatusFromResponse(long http_code, std::string_view body, const RequestInfo& info);

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view text);

// Stops a running Watch from another thread. Thread-safe, idempotent.
class WatchCanceller {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class ApiClient;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  void* multi_ ABSL_GUARDED_BY(mu_) = nullptr;  // CURLM* of the running watch
};

// What Call did besides its answer: after a timeout, a dropped connection or
// a 5xx, a write may have been applied even though no 2xx came back; a
// retry of it then sees the effect of the first attempt (409, 404,
// AlreadyExists). `ambiguous` says so, and the caller reads back before it
// decides it lost.
struct CallTrace {
  int attempts = 0;
  bool ambiguous = false;  // an earlier attempt may have been applied
};

// Thread-safe. Reuses connections through a pool of curl handles.
class ApiClient {
 public:
  explicit ApiClient(ApiClientOptions options);  // no I/O
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // One request, retried with jittered exponential backoff on 429, 5xx,
  // timeouts and connection failures (waiting at least a 429's Retry-After,
  // up to 5 s); a 401 re-reads the token once.
  // `path` includes the query string. Returns the parsed body of a 2xx.
  absl::StatusOr<nlohmann::json> Call(std::string_view method, const std::string& path,
                                      const nlohmann::json* body, std::string_view content_type,
                                      const RequestInfo& info, CallTrace* trace = nullptr);

  // Every item of the list at `collection` (a path without a query, e.g.
  // "/api/v1/namespaces/ns/configmaps") that matches `label_selector`,
  // fetched `page_size` items per request by following metadata.continue;
  // an expired continue token (410) starts over, at most 3 times. Errors
  // of any page are returned as Call maps them; a page that is not a list
  // object is Unavailable.
  absl::StatusOr<std::vector<nlohmann::json>> ListAll(const std::string& collection,
                                                      std::string_view label_selector,
                                                      int page_size, const RequestInfo& info);

  // Streams a watch (`path` must carry watch=1). Calls on_event for every
  // event line in order (a line that is not JSON arrives as a discarded
  // json value); on_event returning false ends the watch. Returns OK when
  // the server ended the stream, on_event stopped it or `cancel` fired; the
  // mapped error when the server refused it; Unavailable when the
  // connection broke; DeadlineExceeded when no event line came for
  // `idle_timeout` (the watchdog; zero: none).
  absl::Status Watch(const std::string& path, const RequestInfo& info,
                     std::chrono::seconds max_duration, std::chrono::milliseconds idle_timeout,
                     const std::function<bool(const nlohmann::json&)>& on_event,
                     WatchCanceller* cancel);

  const ApiClientOptions& options() const { return options_; }

 private:
  struct Handle;
  struct Reply {
    long code = 0;
    std::string body;
    int retry_after_s = 0;  // Retry-After of a 429/503 (API priority and fairness)
  };

  absl::StatusOr<std::string> Token(bool force_reload);
  absl::StatusOr<Reply> PerformOnce(std::string_view method, const std::string& url,
                                    const std::string* body, std::string_view content_type,
                                    const std::string& token);
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> handle);

  const ApiClientOptions options_;
  absl::Mutex token_mu_;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  int64_t token_stamp_ ABSL_GUARDED_BY(token_mu_) = -1;  // mtime+size of the file read
  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<Handle>> idle_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_API_CLIENT_H_
