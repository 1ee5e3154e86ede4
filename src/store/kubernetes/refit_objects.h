// How the Kubernetes refit store maps RefitService state onto ConfigMaps:
// names, labels and the documents in them. Pure functions, no I/O.
// Layout for operators: docs/refit.md ("Kubernetes layout").
#ifndef MX_STORE_KUBERNETES_REFIT_OBJECTS_H_
#define MX_STORE_KUBERNETES_REFIT_OBJECTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "store/refit_store.h"

namespace mx::store::kube {

// Values of the p2p.modelexpress.io/role label (the P2P cache watches only
// role=worker, so it never sees these).
inline constexpr char kRefitVersionRole[] = "refit-version";
inline constexpr char kRefitRequestRole[] = "refit-request";
inline constexpr char kRefitWorkerRole[] = "refit-worker";

// Label selector of every object of one refit role.
std::string RefitSelector(const char* role);

// mxr-v-<uid> for the 8-hex uids the store issues, a hashed name otherwise
// (a uid the store never issued then simply reads as absent).
std::string RefitVersionName(const std::string& uid);
// mxr-w-<40 hex of SHA-256(worker_id)>.
std::string RefitWorkerName(const std::string& worker_id);
// mxr-k-<40 hex of SHA-256 of the length-prefixed (model, key) pair>.
std::string RefitRequestName(const std::string& model, const std::string& key);

struct RefitLease {
  std::string id;
  int64_t expires_ms = 0;
};

// A version ConfigMap, decoded.
struct RefitVersionObject {
  std::string resource_version;  // empty: not written yet
  refit_pb::WeightVersion record;
  // (source_slot_id, worker_id) -> publication: the listing order.
  std::map<std::pair<std::string, std::string>, refit_pb::WeightVersionShard> shards;
  std::map<std::string, RefitLease> leases;        // by worker_id
  std::map<std::string, std::string> lease_ids;    // worker_id -> id, never reused
  int64_t released_ms = 0;
};

struct RefitRequestObject {
  std::string resource_version;
  std::string uid_of_object;  // metadata.uid, for delete preconditions
  std::string model_name;
  std::string idempotency_key;
  std::string version_uid;
  refit_pb::CreateWeightVersionRequest request;
  int64_t created_ms = 0;
};

struct RefitWorkerObject {
  std::string resource_version;
  refit_pb::WorkerRegistration worker;
};

// Build* return the whole ConfigMap (with metadata.resourceVersion when the
// object has one, so a PUT is a compare-and-set); Decode* DataLoss when the
// object is not one of ours or is corrupt.
nlohmann::json BuildRefitVersion(const RefitVersionObject& v);
absl::StatusOr<RefitVersionObject> DecodeRefitVersion(const nlohmann::json& object);
nlohmann::json BuildRefitRequest(const RefitRequestObject& r);
absl::StatusOr<RefitRequestObject> DecodeRefitRequest(const nlohmann::json& object);
nlohmann::json BuildRefitWorker(const RefitWorkerObject& w);
absl::StatusOr<RefitWorkerObject> DecodeRefitWorker(const nlohmann::json& object);

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_REFIT_OBJECTS_H_
