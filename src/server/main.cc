// mxd: the P2P metadata daemon. Parses configuration, connects the store,
// serves until SIGTERM/SIGINT, then drains and exits 0.
#include <csignal>
#include <cstdio>
#include <iostream>

#include "server/config.h"
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
  auto config = mx::server::ParseConfig(args, mx::server::ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << "mxd: " << config.status().message() << "\n";
    return 2;
  }
  if (config->help) {
    std::cout << mx::server::UsageText();
    return 0;
  }
  mx::server::SetupLogging(config->log_level, config->log_format);
  spdlog::info("mxd starting: {}", mx::server::DescribeConfig(*config));
  spdlog::info("transport: plaintext gRPC (no TLS configured)");

#ifdef MX_WITH_KUBERNETES
  if (config->store.backend == "kubernetes") {
    // In a pod: API address, token, CA and namespace from the service account.
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
