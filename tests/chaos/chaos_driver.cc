// mx_chaos: the fault campaign of issue 12. Runs mxd replicas (child
// processes of build/bin/mxd) on a real redis-server or on the fake
// Kubernetes API server, keeps publishing and reading while it injects
// faults, and checks afterwards: no acknowledged write lost, no "lie" (an OK
// listing without an acknowledged worker, or found=false for one), and how
// long each fault took to heal once cleared.
//
//   mx_chaos --backend redis|kubernetes [--seconds N] [--replicas N]
//
// Prints one line per fault and a summary; exits 1 when anything was lost,
// any lie was told, or a fault did not heal within 60 s.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chaos/backends.h"
#include "chaos/ledger.h"
#include "chaos/replica.h"

namespace mx::chaos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Outcome {
  std::string fault;
  double recovery_ms = -1;  // -1: not healed within the bound
  size_t acked_during = 0;
};

class Campaign {
 public:
  Campaign(Backend* backend, std::vector<std::unique_ptr<Replica>>* replicas)
      : backend_(backend), replicas_(*replicas) {}

  void StartWorkload() {
    writer_ = std::thread([this] { Write(); });
    reader_ = std::thread([this] { Read(); });
  }
  void StopWorkload() {
    stop_ = true;
    writer_.join();
    reader_.join();
  }

  // Injects `fault`, holds it, clears it and measures the time until every
  // replica accepts a write that every replica can read back.
  Outcome Run(const Fault& fault) {
    Outcome out{fault.name};
    const size_t before = ledger_.acked();
    fault.inject();
    std::this_thread::sleep_for(fault.hold);  // the fault's duration, by design
    fault.clear();
    const auto cleared = Clock::now();
    if (Healthy(cleared + seconds(60))) out.recovery_ms = Ms(Clock::now() - cleared);
    out.acked_during = ledger_.acked() - before;
    return out;
  }

  // After the faults: every acknowledged worker readable on every replica.
  size_t CountLost() {
    size_t lost = 0;
    for (const std::string& worker : ledger_.AckedBefore(Clock::now())) {
      for (auto& replica : replicas_) {
        Found found = Found::kError;
        for (int attempt = 0; attempt < 20 && found == Found::kError; ++attempt) {
          found = replica->Get(worker, seconds(5));
        }
        if (found != Found::kFound) {
          ++lost;
          std::cerr << "LOST " << worker << " on " << replica->name() << "\n";
          break;
        }
      }
    }
    return lost;
  }

  const Ledger& ledger() const { return ledger_; }

 private:
  // Publishes a probe through every replica and reads each back through
  // every replica, until that works or `deadline` passes.
  bool Healthy(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      bool all = true;
      for (auto& via : replicas_) {
        const std::string probe = "probe-" + std::to_string(probes_++);
        if (!via->Publish(probe, seconds(2))) {
          all = false;
          break;
        }
        ledger_.Ack(probe);
        for (auto& reader : replicas_) {
          if (reader->Get(probe, seconds(2)) != Found::kFound) all = false;
        }
        if (!all) break;
      }
      if (all) return true;
      std::this_thread::sleep_for(milliseconds(20));  // polling interval
    }
    return false;
  }

  void Write() {
    for (int i = 0; !stop_; ++i) {
      const std::string worker = "w-" + std::to_string(i);
      if (replicas_[i % replicas_.size()]->Publish(worker, seconds(2))) ledger_.Ack(worker);
      std::this_thread::sleep_for(milliseconds(25));  // a steady, light write rate
    }
  }

  // A lie: the store answered OK but without a worker acknowledged long
  // enough ago that every replica must know it (backend_->visibility_lag).
  void Read() {
    std::mt19937 rng(7);
    for (int i = 0; !stop_; ++i) {
      Replica& replica = *replicas_[i % replicas_.size()];
      const auto known = ledger_.AckedBefore(Clock::now() - backend_->visibility_lag);
      if (auto listed = replica.ListReady(seconds(2))) {
        for (const std::string& w : known) {
          if (listed->count(w) == 0) {
            ledger_.Lie("ListSources via " + replica.name() + " omitted " + w);
            break;
          }
        }
      }
      if (!known.empty()) {
        const std::string& w = known[rng() % known.size()];
        if (replica.Get(w, seconds(2)) == Found::kNotFound) {
          ledger_.Lie("GetMetadata via " + replica.name() + " said found=false for " + w);
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  Backend* const backend_;
  std::vector<std::unique_ptr<Replica>>& replicas_;
  Ledger ledger_;
  std::atomic<bool> stop_{false};
  int probes_ = 0;  // Healthy() runs on the main thread only
  std::thread writer_;
  std::thread reader_;
};

int Main(int argc, char** argv) {
  std::string backend_name = "redis";
  int budget_s = 45;
  int replica_count = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--backend") {
      backend_name = argv[i + 1];
    } else if (flag == "--seconds") {
      budget_s = std::atoi(argv[i + 1]);
    } else if (flag == "--replicas") {
      replica_count = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::cerr << "usage: mx_chaos --backend redis|kubernetes [--seconds N] [--replicas N]\n";
      return 2;
    }
  }
  const std::string dir = mx::testing::MakeTempDir("mx_chaos");
  std::unique_ptr<Backend> backend = MakeBackend(backend_name, dir);
  if (backend == nullptr) {
    std::cerr << "mx_chaos: cannot start the " << backend_name << " backend\n";
    return 2;
  }
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < replica_count; ++i) {
    replicas.push_back(std::make_unique<Replica>("mxd-" + std::to_string(i),
                                                 backend->MxdArgs(), dir));
    if (!replicas.back()->Start()) {
      std::cerr << "mx_chaos: mxd did not start; logs in " << dir << "\n";
      return 2;
    }
  }
  const std::vector<Fault> faults = backend->Faults(&replicas);
  Campaign campaign(backend.get(), &replicas);
  campaign.StartWorkload();
  std::vector<Outcome> outcomes;
  const auto end = Clock::now() + seconds(budget_s);
  for (size_t i = 0; Clock::now() < end || i < faults.size(); ++i) {
    outcomes.push_back(campaign.Run(faults[i % faults.size()]));
    const Outcome& o = outcomes.back();
    std::printf("%-10s %-34s recovery %8.0f ms  acked during %zu\n", backend_name.c_str(),
                o.fault.c_str(), o.recovery_ms, o.acked_during);
    std::fflush(stdout);
  }
  campaign.StopWorkload();
  const size_t lost = campaign.CountLost();
  const size_t lies = campaign.ledger().lies();
  for (const std::string& lie : campaign.ledger().lie_samples()) std::cerr << "LIE " << lie << "\n";
  std::map<std::string, double> worst;
  bool unhealed = false;
  for (const Outcome& o : outcomes) {
    if (o.recovery_ms < 0) unhealed = true;
    worst[o.fault] = std::max(worst[o.fault], o.recovery_ms);
  }
  for (const auto& [fault, ms] : worst) {
    std::printf("%-10s worst %-28s %8.0f ms\n", backend_name.c_str(), fault.c_str(), ms);
  }
  std::printf("%-10s faults %zu  acknowledged %zu  lost %zu  lies %zu  %s\n",
              backend_name.c_str(), outcomes.size(), campaign.ledger().acked(), lost, lies,
              (lost == 0 && lies == 0 && !unhealed) ? "PASS" : "FAIL");
  return lost == 0 && lies == 0 && !unhealed ? 0 : 1;
}

}  // namespace
}  // namespace mx::chaos

int main(int argc, char** argv) { return mx::chaos::Main(argc, argv); }
