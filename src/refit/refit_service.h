// RefitService's logic, independent of gRPC: the request checks the wire
// contract assigns to the service (blank strings, ttl 0, enums), in its
// order, then one RefitStore call per RPC (the store checks the rest in the
// same atomic step). Thread-safe; holds no state of its own.
#ifndef MX_REFIT_REFIT_SERVICE_H_
#define MX_REFIT_REFIT_SERVICE_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "refit.pb.h"
#include "store/refit_store.h"

namespace mx::refit {

namespace pb = model_express::refit;

// True when `text` is empty after trimming Unicode White_Space (what the
// reference's str::trim removes). Invalid UTF-8 is never blank.
bool IsBlank(std::string_view text);

class RefitService {
 public:
  explicit RefitService(store::RefitStore* store) : store_(store) {}

  absl::StatusOr<pb::WeightVersion> CreateWeightVersion(const pb::CreateWeightVersionRequest& r);
  absl::StatusOr<pb::WeightVersion> GetWeightVersion(const pb::GetWeightVersionRequest& r);
  absl::StatusOr<pb::WeightVersion> DeleteWeightVersion(const pb::DeleteWeightVersionRequest& r);
  absl::StatusOr<pb::WorkerRegistration> RegisterWorker(const pb::RegisterWorkerRequest& r);
  absl::StatusOr<pb::CreateWeightVersionShardResponse> CreateWeightVersionShard(
      const pb::CreateWeightVersionShardRequest& r);
  absl::StatusOr<pb::ListWeightVersionShardsResponse> ListWeightVersionShards(
      const pb::ListWeightVersionShardsRequest& r);
  absl::StatusOr<pb::DeleteWeightVersionShardResponse> DeleteWeightVersionShard(
      const pb::DeleteWeightVersionShardRequest& r);
  absl::StatusOr<pb::VersionLease> RegisterVersionLease(const pb::RegisterVersionLeaseRequest& r);
  absl::StatusOr<pb::DeleteVersionLeaseResponse> DeleteVersionLease(
      const pb::DeleteVersionLeaseRequest& r);

  store::RefitStore* store() const { return store_; }

 private:
  store::RefitStore* const store_;
};

}  // namespace mx::refit

#endif  // MX_REFIT_REFIT_SERVICE_H_
