// mxd: the P2P metadata daemon. Parses configuration, connects the store,
// serves until SIGTERM/SIGINT, then drains and exits 0.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <iostream>
#include <utility>

#include "common/build_info.h"
#include "server/config.h"
#include "server/listen_address.h"
#include "server/logging.h"
#include "server/server.h"
#include "spdlog/spdlog.h"
#include "store/factory.h"
#ifdef MX_WITH_KUBERNETES
#include "store/kubernetes/kubernetes_store.h"
#endif

namespace {

int Run(int argc, char** argv) {
  // Block the shutdown signals before any thread exists, so they are only
  // ever delivered to sigwait() below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& arg : args) {
    if (arg == "--version") {
      std::cout << mx::VersionLine("mxd") << "\n";
      return 0;
    }
  }
  auto config = mx::server::ParseConfig(args, mx::server::ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << "mxd: " << config.status().message() << "\n";
    return 2;
  }
  if (config->help) {
    std::cout << mx::server::UsageText();
    return 0;
  }
  // A taken port is a startup error like a bad flag, found before the store
  // is opened: one line with the OS reason, exit 2.
  for (const auto& [flag, listen] :
       {std::pair<const char*, std::string>{"--listen", config->listen},
        std::pair<const char*, std::string>{"--metrics-listen", config->metrics_listen}}) {
    if (listen.empty()) continue;
    auto address = mx::server::ParseListenAddress(listen);
    absl::Status probe = address.ok() ? mx::server::ProbeListen(*address) : address.status();
    if (!probe.ok()) {
      std::cerr << "mxd: " << flag << " " << listen << ": cannot listen: " << probe.message()
                << (probe.message() == std::strerror(EADDRINUSE)
                        ? " (another process, perhaps another mxd, listens there)"
                        : "")
                << "\n";
      return 2;
    }
  }
  mx::server::SetupLogging(config->log_level, config->log_format);
  spdlog::info("mxd starting: {}", mx::server::DescribeConfig(*config));
  if (config->tls.enabled()) {
    spdlog::info("transport: {} (certificate files re-read every {} s)",
                 mx::server::DescribeTransport(config->tls), config->tls.reload_interval.count());
  } else {
    spdlog::warn("transport: plaintext gRPC (no --tls-cert-file); fine on loopback or in a pod");
  }
  spdlog::info("auth: {}{}{}",
               config->auth.enabled() ? "bearer tokens" : "off (every caller may publish)",
               config->auth.token_file.empty() ? "" : ", from --auth-token-file",
               config->auth.tokenreview ? ", Kubernetes ServiceAccount tokens via TokenReview"
                                        : "");

#ifdef MX_WITH_KUBERNETES
  if (config->store.backend == "kubernetes" || config->auth.tokenreview) {
    // In a pod: API address, token, CA and namespace from the service account
    // (for the ConfigMap store and for TokenReview auth).
    auto resolved = mx::store::ResolveInClusterDefaults(config->store.kubernetes);
    if (!resolved.ok()) {
      spdlog::error("kubernetes store: {}", resolved.status().ToString());
      return 1;
    }
    config->store.kubernetes = *std::move(resolved);
  }
#endif
  auto store = mx::store::MakeStore(config->store);
  if (!store.ok()) {
    spdlog::error("cannot open the {} store: {}", config->store.backend,
                  store.status().ToString());
    return 1;
  }
  auto server = mx::server::Server::Start(*config, *std::move(store));
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  spdlog::info("serving model_express.p2p.P2pService on port {}", (*server)->port());
  if ((*server)->metrics_port() != 0) {
    spdlog::info("serving /metrics, /healthz, /readyz on HTTP port {}", (*server)->metrics_port());
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("received {}, draining for up to {} s", strsignal(signal_number),
               config->shutdown_grace.count());
  (*server)->Shutdown();
  spdlog::info("mxd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
