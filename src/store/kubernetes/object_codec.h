// How a worker record maps onto ConfigMaps: names, labels, annotations,
// the compressed tensor table and its chunks. Pure functions, no I/O.
// docs/kubernetes-store.md describes the layout for operators.
#ifndef MX_STORE_KUBERNETES_OBJECT_CODEC_H_
#define MX_STORE_KUBERNETES_OBJECT_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "store/record.h"

namespace mx::store::kube {

inline constexpr char kManagedByKey[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "mxd";
inline constexpr char kRoleKey[] = "p2p.modelexpress.io/role";  // worker | pending | chunk
inline constexpr char kSourceKey[] = "p2p.modelexpress.io/source-id";
inline constexpr char kRankKey[] = "p2p.modelexpress.io/rank";
inline constexpr char kStatusKey[] = "p2p.modelexpress.io/status";
inline constexpr char kHeadKey[] = "p2p.modelexpress.io/head";
inline constexpr char kGenerationKey[] = "p2p.modelexpress.io/generation";
inline constexpr char kUpdatedAtKey[] = "p2p.modelexpress.io/updated-at-ms";
// Latest heartbeat's source_load (shortest decimal of the float); a head
// without it (written before it existed) reads as 0.
inline constexpr char kSourceLoadKey[] = "p2p.modelexpress.io/source-load";

// Label selector of the heads a cache watches (pending heads excluded).
std::string WorkerSelector();

// Deterministic DNS-1123 name of the head ConfigMap of a worker.
std::string HeadName(const WorkerKey& key);
// Name of chunk `index` of table generation `generation` of `head`.
std::string ChunkName(const std::string& head, const std::string& generation, int index);
// `value` when it is a valid label value, else a hash of it.
std::string LabelValue(const std::string& value);
// A DNS-1123 label (what a namespace name must be): 1-63 of [a-z0-9-],
// beginning and ending with a letter or digit.
bool IsDns1123Label(std::string_view name);
// A label value: empty, or 1-63 of [A-Za-z0-9-_.] beginning and ending with
// a letter or digit.
bool IsLabelValue(std::string_view value);
std::string StatusLabel(SourceStatus status);

// The tensor table (the full WorkerMetadata) as stored: zlib-compressed
// protobuf binary.
std::string EncodeTable(const model_express::p2p::WorkerMetadata& worker);
absl::StatusOr<model_express::p2p::WorkerMetadata> DecodeTable(const std::string& compressed);
std::string Sha256Hex(const std::string& bytes);

struct ChunkManifest {
  std::string generation;  // 8 hex
  int count = 0;
  std::string sha256;  // of the concatenated compressed table
};

// What a head ConfigMap says, without the tensor table.
struct HeadInfo {
  std::string name;
  std::string uid;
  std::string resource_version;
  uint64_t rv = 0;  // numeric form, for ordering events of one object
  bool pending = false;  // created to own chunks, not yet switched on
  std::shared_ptr<const WorkerRecord> summary;  // no tensors, no nixl blob
  WorkerState state;
  WorkerRef ref;
  std::optional<std::string> inline_table;  // compressed
  std::optional<ChunkManifest> chunks;
};

absl::StatusOr<HeadInfo> DecodeHead(const nlohmann::json& object);

// metadata.<key> of any object when it is a string, else "" (never throws):
// enough to name, and delete, an object that does not decode.
std::string MetadataField(const nlohmann::json& object, const char* key);

struct HeadSpec {
  std::string name;
  std::string resource_version;  // empty on create
  const WorkerRecord* record = nullptr;
  WorkerState state;
  bool pending = false;
  bool owned_by_pod = false;
  std::optional<std::string> inline_table;
  std::optional<ChunkManifest> chunks;
};

nlohmann::json BuildHead(const HeadSpec& spec);

// A chunk ConfigMap holding `data`, owned by the head (name, uid).
nlohmann::json BuildChunk(const std::string& head_name, const std::string& head_uid,
                          const std::string& generation, int index, const std::string& data);

// Reassembles a table from chunk objects (any order); FailedPrecondition
// when a chunk is missing or the checksum does not match the manifest.
absl::StatusOr<std::string> JoinChunks(const std::vector<nlohmann::json>& chunks,
                                       const ChunkManifest& manifest);

// A merge patch setting the state, conditional on `resource_version`.
nlohmann::json StatusPatch(const std::string& resource_version, const WorkerState& state);

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_OBJECT_CODEC_H_
