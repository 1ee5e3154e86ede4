#include "server/http_endpoint.h"

#include <charconv>
#include <chrono>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "server/listen_address.h"
#include "spdlog/spdlog.h"

namespace mx::server {

absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", listen, "' is not HOST:PORT"));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  const std::string digits = listen.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *port);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", listen, "' has no valid port"));
  }
  if (host->empty()) *host = "0.0.0.0";
  return absl::OkStatus();
}

HttpEndpoint::HttpEndpoint(const metrics::Registry* registry, std::function<bool()> ready)
    : registry_(registry), ready_(std::move(ready)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start(const std::string& listen) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(listen, &host, &port); !s.ok()) return s;
  http_ = std::make_unique<httplib::Server>();
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second mxd
  // share the port silently; SO_REUSEADDR alone still allows quick restarts.
  http_->set_socket_options([](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
  });
  // Scrapes and probes are rare and cheap: two threads are plenty.
  http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  http_->set_read_timeout(std::chrono::seconds(5));
  http_->set_write_timeout(std::chrono::seconds(5));
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry_->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = ready_();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready: store unreachable or shutting down\n",
                    "text/plain");
  });
  if (port == 0) {
    port_ = http_->bind_to_any_port(host);
  } else if (http_->bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ <= 0) {
    http_.reset();
    std::string reason = "bind failed";
    if (port != 0) {
      if (absl::Status probe = ProbeListen({host, port}); !probe.ok()) {
        reason = std::string(probe.message());
      }
    }
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, " for metrics: ", reason));
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // stop() is a no-op until the listener loop runs; wait for it (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!http_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mx::server
