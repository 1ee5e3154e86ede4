// Marks silent workers STALE and deletes long-STALE ones, using the store's
// compare-and-set so it never overwrites a fresher heartbeat and never
// deletes a worker that came back. Safe to run on every replica at once.
#ifndef MX_SERVER_REAPER_H_
#define MX_SERVER_REAPER_H_

#include <thread>

#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "store/store.h"

namespace mx::server {

struct ReapStats {
  int marked_stale = 0;
  int deleted = 0;
  int lost_races = 0;  // state changed between read and write: left alone
};

class Reaper {
 public:
  Reaper(store::Store* store, ReaperConfig config);
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // One pass over every worker, on the store's clock.
  absl::StatusOr<ReapStats> ScanOnce();

  // Runs ScanOnce every scan_interval on a thread until Stop().
  void Start();
  void Stop();  // idempotent; joins

 private:
  void Run();

  store::Store* const store_;
  const ReaperConfig config_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: joins before the state above goes away
};

}  // namespace mx::server

#endif  // MX_SERVER_REAPER_H_
