// One mxd replica of the fault campaign: a child process of build/bin/mxd
// that can be SIGKILLed and restarted (on a new port) or SIGSTOPped, and the
// three calls the campaign makes to it.
#ifndef MX_TESTS_CHAOS_REPLICA_H_
#define MX_TESTS_CHAOS_REPLICA_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "integration/child_process.h"
#include "p2p.grpc.pb.h"

namespace mx::chaos {

namespace p2p = model_express::p2p;

enum class Found { kError, kFound, kNotFound };

class Replica {
 public:
  // `args`: mxd's store flags; logs go to <dir>/<name>.log.
  Replica(std::string name, std::vector<std::string> args, std::string dir)
      : name_(std::move(name)), args_(std::move(args)), dir_(std::move(dir)) {}

  bool Start();  // (re)starts mxd and points the stub at its port
  void Kill();   // SIGKILL, reaped
  void Pause();  // SIGSTOP
  void Resume(); // SIGCONT
  const std::string& name() const { return name_; }

  // Publishes a READY worker of the campaign's model: true when acknowledged.
  bool Publish(const std::string& worker_id, std::chrono::milliseconds deadline);
  // The READY workers listed, or nullopt when the call failed.
  std::optional<std::set<std::string>> ListReady(std::chrono::milliseconds deadline);
  Found Get(const std::string& worker_id, std::chrono::milliseconds deadline);

  static const p2p::SourceIdentity& Identity();
  static const std::string& SourceId();

 private:
  std::shared_ptr<p2p::P2pService::Stub> stub();

  const std::string name_;
  const std::vector<std::string> args_;
  const std::string dir_;
  mx::testing::ChildProcess process_;
  int starts_ = 0;  // Start() runs on one thread at a time
  absl::Mutex mu_;
  std::shared_ptr<p2p::P2pService::Stub> stub_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mx::chaos

#endif  // MX_TESTS_CHAOS_REPLICA_H_
