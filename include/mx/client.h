// mx client library: talk to an mxd (or any ModelExpress P2P metadata
// server) from an inference engine. See docs/client.md.
//
// Thread-safety: a Client is safe to use from many threads at once; all
// methods are const with respect to shared state and share one channel.
#ifndef MX_CLIENT_H_
#define MX_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mx/source_id.h"  // ComputeSourceId, CanonicalIdentityJson
#include "mx/source_selector.h"
#include "discovery.pb.h"
#include "p2p.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace mx {

namespace p2p = ::model_express::p2p;

// Retry policy for UNAVAILABLE and DEADLINE_EXCEEDED (of one attempt).
// Every P2pService call is an idempotent upsert or a read, so retrying is safe.
struct RetryOptions {
  int max_attempts = 4;  // total attempts, first one included; 1 = no retry
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  double multiplier = 2.0;
  double jitter = 0.2;  // each sleep is scaled by a uniform factor in [1-j, 1+j]
};

struct TlsOptions {
  std::string ca_file;    // PEM roots; empty = the system roots
  std::string cert_file;  // client certificate chain (PEM), for mutual TLS
  std::string key_file;   // its private key (PEM)
  std::string server_name_override;  // expected name in the server certificate
};

struct ClientOptions {
  std::string address = "localhost:8001";
  // Bound on one call, retries and backoff included. A call never takes
  // (much) longer than this, even against an address that drops packets.
  std::chrono::milliseconds deadline{10000};
  // Bound on one attempt inside a call; an attempt that runs out is retried
  // while the call's deadline allows it.
  std::chrono::milliseconds attempt_deadline{5000};
  RetryOptions retry;
  // Manifests of large MoE workers are MB-scale; gRPC's default 4 MiB is too small.
  int max_message_bytes = 256 << 20;
  // Longest wait between reconnect attempts after the server went away; keeps
  // recovery after a server restart quick.
  std::chrono::milliseconds max_reconnect_backoff{1000};
  bool use_tls = false;
  TlsOptions tls;
  std::string bearer_token;  // sent as "authorization: Bearer <token>" when non-empty
  // When set, used as is: address, TLS and channel settings are ignored
  // (the bearer token is still sent). For tests and in-process servers.
  std::shared_ptr<grpc::Channel> channel;
  // FindSource's policy when FindSourceOptions.selector is unset.
  SourceSelector source_selector = SourceSelector::kRandom;

  // Defaults, with the address from MX_SERVER_ADDRESS and the selector from
  // MX_P2P_SOURCE_SELECTOR when they are set (an unknown selector name is
  // ignored: random, and source_selector_error says why).
  // The only place the library reads the environment.
  static ClientOptions FromEnvironment();
  std::string source_selector_error;  // set by FromEnvironment only
};

// Per-call overrides of ClientOptions.
struct CallOptions {
  std::optional<std::chrono::milliseconds> deadline;
  std::optional<int> max_attempts;
};

// Every ListSources filter; unset means "do not filter on it".
struct ListFilter {
  std::optional<p2p::SourceIdentity> identity;  // restricts to its mx_source_id
  std::optional<p2p::SourceStatus> status;      // READY also drops stale heartbeats
  std::optional<std::string> model_name;
  std::optional<uint32_t> worker_rank;
  std::optional<uint64_t> min_training_step;
  std::optional<int64_t> min_updated_at_ms;
  std::optional<uint32_t> limit;  // newest first
};

enum class HealthStatus { kUnknown, kServing, kNotServing, kServiceUnknown };
const char* HealthStatusName(HealthStatus status);

class Client {
 public:
  // Builds the channel (reads TLS files; no network I/O: connecting is lazy).
  // InvalidArgument for unreadable TLS files or an empty address.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Upserts one worker record; returns the server's mx_source_id.
  // InvalidArgument with the server's message when it answers success=false.
  absl::StatusOr<std::string> Publish(const p2p::PublishMetadataRequest& request,
                                      const CallOptions& call = {}) const;

  absl::StatusOr<std::vector<p2p::SourceInstanceRef>> ListSources(
      const ListFilter& filter, const CallOptions& call = {}) const;

  // The full record. NotFound when the server answers found=false.
  absl::StatusOr<p2p::GetMetadataResponse> GetMetadata(const std::string& mx_source_id,
                                                       const std::string& worker_id,
                                                       const CallOptions& call = {}) const;

  // Sets the status and refreshes updated_at. NotFound when the worker does
  // not exist (re-publish it); FailedPrecondition with the server's message
  // when it answers success=false.
  absl::Status UpdateStatus(const std::string& mx_source_id, const std::string& worker_id,
                            uint32_t worker_rank, p2p::SourceStatus status,
                            const CallOptions& call = {}) const;
  // The same, reporting the source's load in [0, 1] (servers clamp it;
  // servers that predate source_load ignore it).
  absl::Status UpdateStatus(const std::string& mx_source_id, const std::string& worker_id,
                            uint32_t worker_rank, p2p::SourceStatus status, float source_load,
                            const CallOptions& call = {}) const;

  // mxd's push discovery (mxd.discovery.v1.Discovery/WatchSources, see
  // docs/discovery.md): hands each event to `on_event` until it returns
  // false (OK), the stream ends (its status, e.g. Unimplemented from a
  // server without the service, Unavailable when the server or its store
  // went away, ResourceExhausted for a watcher that fell behind) or
  // call.deadline passes (DeadlineExceeded; unset = no deadline). Not
  // retried: watch again with the last resume_token seen.
  absl::Status WatchSources(
      const mxd::discovery::v1::WatchSourcesRequest& request,
      const std::function<bool(const mxd::discovery::v1::SourceEvent&)>& on_event,
      const CallOptions& call = {}) const;

  // grpc.health.v1 Check; "" asks about the whole server.
  absl::StatusOr<HealthStatus> CheckHealth(const std::string& service = "",
                                           const CallOptions& call = {}) const;

  const ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  Client(ClientOptions options, std::unique_ptr<Impl> impl);

  const ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mx

#endif  // MX_CLIENT_H_
