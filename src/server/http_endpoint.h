// The operations HTTP listener: /metrics (Prometheus text format),
// /healthz (the process is up) and /readyz (the store is reachable and mxd
// is not shutting down), for environments without gRPC probes.
#ifndef MX_SERVER_HTTP_ENDPOINT_H_
#define MX_SERVER_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "metrics/registry.h"

namespace httplib {
class Server;
}

namespace mx::server {

class HttpEndpoint {
 public:
  // `registry` must outlive this; `ready()` is called per /readyz request.
  HttpEndpoint(const metrics::Registry* registry, std::function<bool()> ready);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds HOST:PORT (port 0 picks a free one) and serves on a thread.
  absl::Status Start(const std::string& listen);
  int port() const { return port_; }
  void Stop();  // idempotent; joins

 private:
  const metrics::Registry* const registry_;
  const std::function<bool()> ready_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;  // last: joins before http_ goes away
};

// Splits "host:port" / "[v6]:port"; InvalidArgument otherwise.
absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace mx::server

#endif  // MX_SERVER_HTTP_ENDPOINT_H_
