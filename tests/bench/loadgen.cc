// mx_loadgen: drives a P2pService (mxd or mx_null_server) through the
// issue-7 scenarios and prints one `RESULT scenario=... key=value` line per
// scenario (run_all.sh turns them into the markdown table).
//
//   mx_loadgen --target=127.0.0.1:8001 --scenario=get_metadata --server-pid=PID
//   mx_loadgen --inproc=mxd --scenario=all --seconds=0.2   (smoke test)
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_split.h"
#include "null_service.h"
#include "scenarios.h"
#include "server/server.h"
#include "spdlog/spdlog.h"
#include "store/memory/memory_store.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

namespace {

struct Flags {
  std::string target;
  std::string inproc;  // "mxd", "null" or "nullparse": serve in this process (smoke test)
  std::string scenario = "all";
  int channels = 4;
  bool small = false;  // smaller fleets, for the smoke test
};

int Usage() {
  std::cerr << "usage: mx_loadgen (--target=HOST:PORT | --inproc=mxd|null|nullparse) [--scenario=NAME,...|all]\n"
               "  [--server-pid=PID] [--concurrency=16] [--seconds=3] [--warmup=0.5]\n"
               "  [--channels=4] [--fleet-targets=1000] [--fleet-rounds=3]\n"
               "  [--memory-workers=200] [--small]\nscenarios:";
  for (const auto& [name, fn] : mx::bench::Scenarios()) std::cerr << " " << name;
  std::cerr << "\n";
  return 2;
}

bool ParseFlags(int argc, char** argv, Flags* f, mx::bench::BenchOptions* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    try {
      if (name == "--target") f->target = value;
      else if (name == "--inproc") f->inproc = value;
      else if (name == "--scenario") f->scenario = value;
      else if (name == "--channels") f->channels = std::stoi(value);
      else if (name == "--small") f->small = true;
      else if (name == "--server-pid") o->server_pid = std::stoi(value);
      else if (name == "--concurrency") o->concurrency = std::stoi(value);
      else if (name == "--seconds") o->seconds = std::stod(value);
      else if (name == "--warmup") o->warmup_seconds = std::stod(value);
      else if (name == "--fleet-targets") o->fleet_targets = std::stoi(value);
      else if (name == "--fleet-rounds") o->fleet_rounds = std::stoi(value);
      else if (name == "--memory-workers") o->memory_workers = std::stoi(value);
      else return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  return !f->target.empty() != !f->inproc.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  mx::bench::BenchOptions options;
  if (!ParseFlags(argc, argv, &flags, &options)) return Usage();
  spdlog::set_level(spdlog::level::warn);  // in-process mxd: keep stdout to RESULT lines
  if (flags.small) {
    options.listed_workers = 400;
    options.small_listed_workers = 16;
    options.fleet_targets = 50;
    options.fleet_rounds = 1;
    options.memory_workers = 4;
  }

  std::vector<std::string> names = absl::StrSplit(flags.scenario, ',');
  if (flags.scenario == "all") {
    names.clear();
    for (const auto& [name, fn] : mx::bench::Scenarios()) names.push_back(name);
  }
  int failures = 0;
  for (const std::string& name : names) {
    mx::bench::Scenario scenario = nullptr;
    for (const auto& [n, fn] : mx::bench::Scenarios()) {
      if (n == name) scenario = fn;
    }
    if (scenario == nullptr) return Usage();

    // In-process mode: a fresh server per scenario, as run_all.sh does.
    std::unique_ptr<mx::server::Server> mxd;
    std::unique_ptr<mx::bench::NullService> null_service;
    std::unique_ptr<grpc::Server> null_server;
    std::string target = flags.target;
    mx::bench::BenchOptions o = options;
    if (flags.inproc == "mxd") {
      mx::server::ServerConfig config;
      config.listen = "127.0.0.1:0";
      config.metrics_listen = "";
      config.reflection = false;
      auto started = mx::server::Server::Start(config, std::make_unique<mx::store::MemoryStore>());
      if (!started.ok()) {
        std::cerr << started.status() << "\n";
        return 1;
      }
      mxd = *std::move(started);
      target = "127.0.0.1:" + std::to_string(mxd->port());
      if (name == "memory") o.server_pid = getpid();
    } else if (flags.inproc == "null" || flags.inproc == "nullparse") {
      null_service = std::make_unique<mx::bench::NullService>(o.listed_workers,
                                                              flags.inproc == "nullparse");
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      builder.RegisterService(null_service.get());
      builder.SetMaxSendMessageSize(256 << 20);
      builder.SetMaxReceiveMessageSize(256 << 20);
      null_server = builder.BuildAndStart();
      target = "127.0.0.1:" + std::to_string(port);
      if (name == "memory") o.server_pid = getpid();
    } else if (!flags.inproc.empty()) {
      return Usage();
    }
    o.channels = mx::bench::MakeChannels(target, flags.channels);

    auto result = scenario(o);
    if (!result.ok()) {
      std::printf("ERROR scenario=%s %s\n", name.c_str(), std::string(result.status().message()).c_str());
      ++failures;
    } else {
      std::printf("RESULT scenario=%s", result->scenario.c_str());
      for (const auto& [key, value] : result->values) std::printf(" %s=%.6g", key.c_str(), value);
      std::printf("\n");
    }
    std::fflush(stdout);
    if (null_server) null_server->Shutdown();
    if (mxd) mxd->Shutdown();
  }
  return failures == 0 ? 0 : 1;
}
