#include "chaos/backends.h"

#include <dirent.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "chaos/ledger.h"
#include "fakes/fake_kube.h"
#include "redis_server.h"
#include "store/redis/redis_connection.h"

namespace mx::chaos {
namespace {

using std::chrono::milliseconds;

// Flags every replica gets: nothing expires or is reaped during a campaign,
// and a replica shuts down quickly.
std::vector<std::string> CommonFlags() {
  return {"--heartbeat-timeout-secs", "3600", "--reaper-scan-interval-secs", "3600",
          "--shutdown-grace-secs", "1"};
}

class RedisBackend final : public Backend {
 public:
  bool Start() {
    mx::testing::RedisServerOptions options;
    options.appendonly = true;
    options.appendfsync = "always";  // an acknowledged write survives SIGKILL
    auto server = mx::testing::RedisServer::Start(options);
    if (!server.ok()) return false;
    server_ = *std::move(server);
    return true;
  }

  std::vector<std::string> MxdArgs() const override {
    std::vector<std::string> args = {"--store", "redis", "--redis-url",
                                     "redis://127.0.0.1:" + std::to_string(server_->port()),
                                     "--redis-key-prefix", "chaos"};
    for (auto& f : CommonFlags()) args.push_back(f);
    return args;
  }

  std::vector<Fault> Faults(std::vector<std::unique_ptr<Replica>>* replicas) override {
    std::vector<Fault> faults;
    faults.push_back({"redis SIGSTOP 3 s", [this] { Signal(SIGSTOP); }, milliseconds(3000),
                      [this] { Signal(SIGCONT); }});
    faults.push_back({"redis SIGKILL, restart after 2 s", [this] { server_->Kill(); },
                      milliseconds(2000), [this] { (void)server_->Restart(); }});
    AddReplicaFaults(replicas, &faults);
    return faults;
  }

 private:
  // redis-server renames its process title, so ask it for its pid.
  void Signal(int signal_number) {
    if (signal_number == SIGSTOP) {
      pid_ = -1;
      auto connection = store::redis::RedisConnection::Open(server_->StoreOptions("chaos"));
      if (!connection.ok()) return;
      auto reply = (*connection)->Command({"INFO", "server"});
      if (!reply.ok() || (*reply)->type != REDIS_REPLY_STRING) return;
      std::istringstream info(std::string((*reply)->str, (*reply)->len));
      for (std::string line; std::getline(info, line);) {
        if (line.rfind("process_id:", 0) == 0) pid_ = std::stoi(line.substr(11));
      }
    }
    if (pid_ > 0) kill(pid_, signal_number);
  }

  std::unique_ptr<mx::testing::RedisServer> server_;
  int pid_ = -1;
};

class KubernetesBackend final : public Backend {
 public:
  bool Start(const std::string& dir) {
    mx::testing::FakeKube::Options options;
    options.port = mx::testing::FreeLoopbackPort();
    fake_ = mx::testing::FakeKube::Start(options);
    if (fake_ == nullptr) return false;
    pid_ = FindPid({"fake_kube_apiserver.py", std::to_string(options.port)});
    ns_ = mx::testing::UniqueNamespace("chaos");
    token_file_ = dir + "/token";
    std::ofstream(token_file_) << "test-token\n";
    visibility_lag = milliseconds(3000);
    return pid_ > 0;
  }

  std::vector<std::string> MxdArgs() const override {
    // A short watchdog, so a silent watch is cut within the campaign, and a
    // staleness bound no longer than visibility_lag: a cache that could
    // miss an acknowledged worker answers UNAVAILABLE instead.
    std::vector<std::string> args = {"--store",          "kubernetes", "--k8s-api-url",
                                     fake_->url(),       "--k8s-token-file", token_file_,
                                     "--namespace",      ns_,
                                     "--k8s-watchdog-secs", std::to_string(kWatchdogS),
                                     "--k8s-max-staleness-secs", "3"};
    for (auto& f : CommonFlags()) args.push_back(f);
    return args;
  }

  std::vector<Fault> Faults(std::vector<std::unique_ptr<Replica>>* replicas) override {
    using nlohmann::json;
    auto set = [this](json faults) { return [this, faults] { fake_->Faults(faults); }; };
    std::vector<Fault> faults;
    faults.push_back({"api 500 x40", set({{"fail_500", 40}}), milliseconds(3000),
                      set({{"fail_500", 0}})});
    faults.push_back({"api slow 1500 ms per request", set({{"latency_ms", 1500}}),
                      milliseconds(4000), set({{"latency_ms", 0}})});
    faults.push_back({"409 storm x40", set({{"conflict", 40}}), milliseconds(3000),
                      set({{"conflict", 0}})});
    faults.push_back({"dropped watches", set({{"drop_watches", true}}), milliseconds(1000),
                      [] {}});
    faults.push_back({"api hang (SIGSTOP) 3 s", [this] { kill(pid_, SIGSTOP); },
                      milliseconds(3000), [this] { kill(pid_, SIGCONT); }});
    faults.push_back({"silent watches ~7 s", [this, replicas] { SilentWatches(*replicas); },
                      milliseconds(4000), set({{"silent_watches", false}})});
    AddReplicaFaults(replicas, &faults);
    return faults;
  }

 private:
  static constexpr int kWatchdogS = 2;

  // Every watch from now on answers and then says nothing (a peer gone
  // without a FIN); the open ones are cut so the replicas re-watch into
  // that. Measures how long a change made through the first replica takes
  // to reach the last one's cache, which only the watchdog (cut, relist)
  // can bring about now.
  void SilentWatches(const std::vector<std::unique_ptr<Replica>>& replicas) {
    fake_->Faults({{"silent_watches", true}});
    fake_->Faults({{"drop_watches", true}});
    if (replicas.size() < 2) return;
    const std::string probe = "silent-probe-" + std::to_string(silent_probes_++);
    const auto start = Clock::now();
    if (!replicas.front()->Publish(probe, std::chrono::seconds(2))) return;
    const auto deadline = start + std::chrono::seconds(8 * kWatchdogS);
    while (Clock::now() < deadline) {
      auto listed = replicas.back()->ListReady(std::chrono::seconds(2));
      if (listed && listed->count(probe) > 0) {
        std::printf("kubernetes silent watch: a change via %s reached %s after %.0f ms "
                    "(watchdog %d ms)\n",
                    replicas.front()->name().c_str(), replicas.back()->name().c_str(),
                    std::chrono::duration<double, std::milli>(Clock::now() - start).count(),
                    kWatchdogS * 1000);
        return;
      }
      std::this_thread::sleep_for(milliseconds(20));  // polling interval
    }
    std::printf("kubernetes silent watch: the change never reached %s\n",
                replicas.back()->name().c_str());
  }

  int silent_probes_ = 0;
  std::unique_ptr<mx::testing::FakeKube> fake_;
  int pid_ = -1;
  std::string ns_;
  std::string token_file_;
};

}  // namespace

void AddReplicaFaults(std::vector<std::unique_ptr<Replica>>* replicas, std::vector<Fault>* out) {
  Replica* first = replicas->front().get();
  Replica* last = replicas->back().get();
  out->push_back({"mxd SIGKILL, restart", [first] { first->Kill(); }, milliseconds(500),
                  [first] { (void)first->Start(); }});
  out->push_back({"mxd SIGSTOP 3 s", [last] { last->Pause(); }, milliseconds(3000),
                  [last] { last->Resume(); }});
}

int FindPid(const std::vector<std::string>& needles) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  int found = -1;
  while (dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream in("/proc/" + std::string(entry->d_name) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    bool all = !cmdline.empty();
    for (const auto& needle : needles) {
      if (cmdline.find(needle) == std::string::npos) all = false;
    }
    if (all) {
      found = pid;
      break;
    }
  }
  closedir(proc);
  return found;
}

std::unique_ptr<Backend> MakeBackend(const std::string& name, const std::string& dir) {
  if (name == "redis") {
    auto backend = std::make_unique<RedisBackend>();
    if (backend->Start()) return backend;
  } else if (name == "kubernetes") {
    auto backend = std::make_unique<KubernetesBackend>();
    if (backend->Start(dir)) return backend;
  }
  return nullptr;
}

}  // namespace mx::chaos
