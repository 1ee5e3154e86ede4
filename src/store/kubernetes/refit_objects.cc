// Refit ConfigMaps <-> documents.
#include "store/kubernetes/refit_objects.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "refit_format.pb.h"
#include "store/kubernetes/object_codec.h"

namespace mx::store::kube {
namespace {

using nlohmann::json;
namespace fmt = ::mx::store::kuberefit;

constexpr char kDocKey[] = "doc";
constexpr char kModelKey[] = "refit.modelexpress.io/model";
constexpr char kStateKey[] = "refit.modelexpress.io/state";

// Deterministic bytes, so an unchanged document encodes the same way.
std::string Bytes(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

bool IsLowerHex8(const std::string& s) {
  if (s.size() != 8) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

json Object(const std::string& name, const char* role, const std::string& resource_version,
            const std::string& doc, json labels, json annotations) {
  labels[kManagedByKey] = kManagedByValue;
  labels[kRoleKey] = role;
  json metadata = {{"name", name}, {"labels", labels}, {"annotations", annotations}};
  if (!resource_version.empty()) metadata["resourceVersion"] = resource_version;
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadata},
          {"binaryData", {{kDocKey, absl::Base64Escape(doc)}}}};
}

// The document of an object of `role`, with its resourceVersion.
absl::StatusOr<std::string> Doc(const json& object, const char* role, std::string* rv,
                                std::string* uid = nullptr) {
  if (!object.is_object()) return absl::DataLossError("refit object is not a JSON object");
  const json meta = object.value("metadata", json::object());
  const json labels = meta.value("labels", json::object());
  if (!labels.is_object() || labels.value(kRoleKey, "") != role) {
    return absl::DataLossError(absl::StrCat("object is not a ", role));
  }
  *rv = meta.value("resourceVersion", "");
  if (uid != nullptr) *uid = meta.value("uid", "");
  const json data = object.value("binaryData", json::object());
  auto it = data.is_object() ? data.find(kDocKey) : data.end();
  std::string doc;
  if (it == data.end() || !it->is_string() || !absl::Base64Unescape(it->get<std::string>(), &doc)) {
    return absl::DataLossError(absl::StrCat("refit object ", meta.value("name", ""),
                                            " has no readable document"));
  }
  return doc;
}

absl::Status Corrupt(const json& object) {
  return absl::DataLossError(absl::StrCat(
      "refit object ", object.value("metadata", json::object()).value("name", ""), " is corrupt"));
}

std::string StateLabel(refit_pb::WeightVersionState state) {
  switch (state) {
    case refit_pb::WEIGHT_VERSION_STATE_STAGING: return "staging";
    case refit_pb::WEIGHT_VERSION_STATE_READY: return "ready";
    case refit_pb::WEIGHT_VERSION_STATE_RELEASING: return "releasing";
    default: return "unknown";
  }
}

}  // namespace

std::string RefitSelector(const char* role) {
  return absl::StrCat(kManagedByKey, "=", kManagedByValue, ",", kRoleKey, "=", role);
}

std::string RefitVersionName(const std::string& uid) {
  if (IsLowerHex8(uid)) return absl::StrCat("mxr-v-", uid);
  return absl::StrCat("mxr-v-x", Sha256Hex(uid).substr(0, 40));
}

std::string RefitWorkerName(const std::string& worker_id) {
  return absl::StrCat("mxr-w-", Sha256Hex(worker_id).substr(0, 40));
}

std::string RefitRequestName(const std::string& model, const std::string& key) {
  // Length-prefixed: ("a:b", "c") and ("a", "b:c") get different names (D2).
  return absl::StrCat("mxr-k-",
                      Sha256Hex(absl::StrCat(model.size(), ":", model, key)).substr(0, 40));
}

json BuildRefitVersion(const RefitVersionObject& v) {
  fmt::VersionDoc doc;
  doc.set_version(Bytes(v.record));
  for (const auto& [key, shard] : v.shards) doc.add_shards(Bytes(shard));
  for (const auto& [worker, lease] : v.leases) {
    fmt::Lease& out = (*doc.mutable_leases())[worker];
    out.set_id(lease.id);
    out.set_expires_ms(lease.expires_ms);
  }
  for (const auto& [worker, id] : v.lease_ids) (*doc.mutable_lease_ids())[worker] = id;
  doc.set_released_ms(v.released_ms);
  return Object(RefitVersionName(v.record.uid()), kRefitVersionRole, v.resource_version,
                Bytes(doc),
                {{kModelKey, LabelValue(v.record.model_name())},
                 {kStateKey, StateLabel(v.record.state())}},
                json::object());
}

absl::StatusOr<RefitVersionObject> DecodeRefitVersion(const json& object) {
  RefitVersionObject v;
  auto bytes = Doc(object, kRefitVersionRole, &v.resource_version);
  if (!bytes.ok()) return bytes.status();
  fmt::VersionDoc doc;
  if (!doc.ParseFromString(*bytes) || !v.record.ParseFromString(doc.version())) {
    return Corrupt(object);
  }
  for (const std::string& s : doc.shards()) {
    refit_pb::WeightVersionShard shard;
    if (!shard.ParseFromString(s)) return Corrupt(object);
    v.shards.emplace(std::make_pair(shard.source_slot_id(), shard.worker_id()), shard);
  }
  for (const auto& [worker, lease] : doc.leases()) {
    v.leases[worker] = RefitLease{lease.id(), lease.expires_ms()};
  }
  v.lease_ids.insert(doc.lease_ids().begin(), doc.lease_ids().end());
  v.released_ms = doc.released_ms();
  return v;
}

json BuildRefitRequest(const RefitRequestObject& r) {
  fmt::RequestDoc doc;
  doc.set_model_name(r.model_name);
  doc.set_idempotency_key(r.idempotency_key);
  doc.set_uid(r.version_uid);
  doc.set_request(Bytes(r.request));
  doc.set_created_ms(r.created_ms);
  return Object(RefitRequestName(r.model_name, r.idempotency_key), kRefitRequestRole,
                r.resource_version, Bytes(doc), {{kModelKey, LabelValue(r.model_name)}},
                {{"refit.modelexpress.io/version", r.version_uid}});
}

absl::StatusOr<RefitRequestObject> DecodeRefitRequest(const json& object) {
  RefitRequestObject r;
  auto bytes = Doc(object, kRefitRequestRole, &r.resource_version, &r.uid_of_object);
  if (!bytes.ok()) return bytes.status();
  fmt::RequestDoc doc;
  if (!doc.ParseFromString(*bytes) || !r.request.ParseFromString(doc.request())) {
    return Corrupt(object);
  }
  r.model_name = doc.model_name();
  r.idempotency_key = doc.idempotency_key();
  r.version_uid = doc.uid();
  r.created_ms = doc.created_ms();
  return r;
}

json BuildRefitWorker(const RefitWorkerObject& w) {
  fmt::WorkerDoc doc;
  doc.set_worker(Bytes(w.worker));
  return Object(RefitWorkerName(w.worker.worker_id()), kRefitWorkerRole, w.resource_version,
                Bytes(doc), {{kModelKey, LabelValue(w.worker.model_name())}}, json::object());
}

absl::StatusOr<RefitWorkerObject> DecodeRefitWorker(const json& object) {
  RefitWorkerObject w;
  auto bytes = Doc(object, kRefitWorkerRole, &w.resource_version);
  if (!bytes.ok()) return bytes.status();
  fmt::WorkerDoc doc;
  if (!doc.ParseFromString(*bytes) || !w.worker.ParseFromString(doc.worker())) {
    return Corrupt(object);
  }
  return w;
}

}  // namespace mx::store::kube
