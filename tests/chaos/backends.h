// The store services the fault campaign runs mxd on, and the faults each
// one can suffer.
#ifndef MX_TESTS_CHAOS_BACKENDS_H_
#define MX_TESTS_CHAOS_BACKENDS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chaos/replica.h"

namespace mx::chaos {

struct Fault {
  std::string name;
  std::function<void()> inject;
  std::chrono::milliseconds hold;  // how long the fault lasts before clear()
  std::function<void()> clear;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The flags that put an mxd on this store.
  virtual std::vector<std::string> MxdArgs() const = 0;
  // The faults, in the order the campaign cycles through them.
  virtual std::vector<Fault> Faults(std::vector<std::unique_ptr<Replica>>* replicas) = 0;
  // How long after its acknowledgement every replica must list a worker
  // (0 for Redis, one shared store; the watch delay for Kubernetes caches).
  std::chrono::milliseconds visibility_lag{0};
};

// "redis" or "kubernetes", with its state under `dir`; null when it could
// not be started.
std::unique_ptr<Backend> MakeBackend(const std::string& name, const std::string& dir);

// Faults on mxd itself, the same on every backend.
void AddReplicaFaults(std::vector<std::unique_ptr<Replica>>* replicas, std::vector<Fault>* out);

// The pid of the process whose command line holds every one of `needles`,
// or -1.
int FindPid(const std::vector<std::string>& needles);

}  // namespace mx::chaos

#endif  // MX_TESTS_CHAOS_BACKENDS_H_
