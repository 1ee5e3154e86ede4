// Removes what a publisher that crashed (or could not clean up) left
// behind: chunk generations that no head references and pending heads that
// were never switched on, once they are older than a grace period. Runs in
// every replica; deletions carry uid preconditions, so replicas sweeping at
// once, or a publisher re-creating a chunk, are harmless.
#ifndef MX_STORE_KUBERNETES_CHUNK_SWEEPER_H_
#define MX_STORE_KUBERNETES_CHUNK_SWEEPER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/kubernetes/api_client.h"

namespace mx::store::kube {

class ChunkSweeper {
 public:
  // interval zero: Start() runs nothing (SweepOnce still works).
  ChunkSweeper(ApiClient* client, std::string namespace_name, absl::Duration interval,
               absl::Duration grace);  // no I/O
  ~ChunkSweeper();  // Stop()
  ChunkSweeper(const ChunkSweeper&) = delete;
  ChunkSweeper& operator=(const ChunkSweeper&) = delete;

  void Start();
  void Stop();  // idempotent; joins

  // One pass. Returns how many ConfigMaps it deleted; the API error when a
  // list failed (a head that cannot be read is left for the next pass).
  absl::StatusOr<int> SweepOnce();
  int64_t deleted() const { return deleted_.load(); }

 private:
  void Loop();
  absl::StatusOr<std::vector<nlohmann::json>> ListRole(const char* role);
  bool Delete(const std::string& name, const std::string& uid, const std::string& rv);

  ApiClient* const client_;
  const std::string namespace_name_;
  const absl::Duration interval_;
  const absl::Duration grace_;
  std::atomic<int64_t> deleted_{0};
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: joins before the state above goes
};

// creationTimestamp of an object (RFC 3339, UTC); nullopt when absent or
// unreadable.
std::optional<absl::Time> CreationTime(const nlohmann::json& object);

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_CHUNK_SWEEPER_H_
