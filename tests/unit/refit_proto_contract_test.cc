// Pins proto/refit.proto to the wire contract's tables (package, message
// order, field names, numbers, types, labels, presence, enums, services),
// so an edit that would break upstream refit clients fails here.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "refit.pb.h"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kU32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kU64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kMsg = FieldDescriptor::TYPE_MESSAGE;

enum Label { kPlain, kRepeated, kOptional };

struct Field {
  std::string name;
  int number;
  FieldDescriptor::Type type;
  Label label = kPlain;
  std::string type_name = "";  // short name of a message or enum type
};

struct Message {
  std::string name;
  std::vector<Field> fields;
};

const std::vector<Message>& Contract() {
  static const auto* contract = new std::vector<Message>{
      {"WorkerRegistration",
       {{"worker_id", 1, kString},
        {"role", 2, kEnum, kPlain, "WorkerRole"},
        {"model_name", 3, kString},
        {"expires_at_unix_ms", 4, kU64}}},
      {"RegisterWorkerRequest",
       {{"worker", 1, kMsg, kPlain, "WorkerRegistration"}, {"ttl_seconds", 2, kU32}}},
      {"WeightVersion",
       {{"uid", 1, kString},
        {"model_name", 2, kString},
        {"version_number", 3, kU64, kOptional},
        {"idempotency_key", 4, kString},
        {"payload_format", 5, kEnum, kPlain, "WeightPayloadFormat"},
        {"base_version_id", 6, kString, kOptional},
        {"expected_source_slots", 7, kString, kRepeated},
        {"layout_signature", 8, kString},
        {"state", 9, kEnum, kPlain, "WeightVersionState"},
        {"created_at_unix_ms", 10, kU64}}},
      {"CreateWeightVersionRequest",
       {{"model_name", 1, kString},
        {"version_number", 2, kU64, kOptional},
        {"idempotency_key", 3, kString},
        {"payload_format", 4, kEnum, kPlain, "WeightPayloadFormat"},
        {"base_version_id", 5, kString, kOptional},
        {"expected_source_slots", 6, kString, kRepeated}}},
      {"GetWeightVersionRequest", {{"uid", 1, kString}}},
      {"DeleteWeightVersionRequest", {{"uid", 1, kString}}},
      {"WeightVersionShard",
       {{"version_id", 1, kString},
        {"source_slot_id", 2, kString},
        {"worker_id", 3, kString},
        {"tensor_count", 4, kU64},
        {"total_bytes", 5, kU64},
        {"manifest_digest", 6, kString},
        {"manifest_endpoint", 7, kString},
        {"transport", 8, kString}}},
      {"CreateWeightVersionShardRequest", {{"shard", 1, kMsg, kPlain, "WeightVersionShard"}}},
      {"CreateWeightVersionShardResponse",
       {{"shard", 1, kMsg, kPlain, "WeightVersionShard"},
        {"version", 2, kMsg, kPlain, "WeightVersion"}}},
      {"ListWeightVersionShardsRequest", {{"version_id", 1, kString}}},
      {"ListWeightVersionShardsResponse",
       {{"shards", 1, kMsg, kRepeated, "WeightVersionShard"}}},
      {"GetWeightVersionShardManifestRequest",
       {{"version_id", 1, kString}, {"source_slot_id", 2, kString}}},
      {"GetWeightVersionShardManifestResponse",
       {{"manifest", 1, kBytes}, {"manifest_digest", 2, kString}}},
      {"DeleteWeightVersionShardRequest",
       {{"version_id", 1, kString}, {"source_slot_id", 2, kString}, {"worker_id", 3, kString}}},
      {"DeleteWeightVersionShardResponse", {{"deleted", 1, kBool}}},
      {"VersionLease",
       {{"lease_id", 1, kString},
        {"version_id", 2, kString},
        {"worker_id", 3, kString},
        {"expires_at_unix_ms", 4, kU64}}},
      {"RegisterVersionLeaseRequest",
       {{"version_id", 1, kString}, {"worker_id", 2, kString}, {"ttl_seconds", 3, kU32}}},
      {"DeleteVersionLeaseRequest",
       {{"version_id", 1, kString}, {"lease_id", 2, kString}, {"worker_id", 3, kString}}},
      {"DeleteVersionLeaseResponse", {{"deleted", 1, kBool}}},
  };
  return *contract;
}

const FileDescriptor* File() {
  return model_express::refit::WeightVersion::descriptor()->file();
}

TEST(RefitProtoContract, FileIsProto3InTheRefitPackageWithNoOptions) {
  const FileDescriptor* file = File();
  EXPECT_EQ(file->name(), "refit.proto");
  EXPECT_EQ(file->package(), "model_express.refit");
  EXPECT_EQ(file->syntax(), FileDescriptor::SYNTAX_PROTO3);
  EXPECT_EQ(file->dependency_count(), 0);
  EXPECT_EQ(file->options().SerializeAsString(), "");
}

TEST(RefitProtoContract, MessagesAppearInTheReferenceOrderWithExactFields) {
  const FileDescriptor* file = File();
  ASSERT_EQ(file->message_type_count(), static_cast<int>(Contract().size()));
  for (int m = 0; m < file->message_type_count(); ++m) {
    const auto* desc = file->message_type(m);
    const Message& want = Contract()[m];
    SCOPED_TRACE(want.name);
    ASSERT_EQ(desc->name(), want.name);
    ASSERT_EQ(desc->field_count(), static_cast<int>(want.fields.size()));
    int synthetic_oneofs = 0;
    for (int f = 0; f < desc->field_count(); ++f) {
      const FieldDescriptor* field = desc->field(f);
      const Field& w = want.fields[f];
      SCOPED_TRACE(w.name);
      EXPECT_EQ(field->name(), w.name);
      EXPECT_EQ(field->number(), w.number);
      EXPECT_EQ(field->type(), w.type);
      EXPECT_EQ(field->is_repeated(), w.label == kRepeated);
      EXPECT_FALSE(field->is_map());
      const bool optional = field->containing_oneof() != nullptr;
      EXPECT_EQ(optional, w.label == kOptional);
      if (optional) {
        ++synthetic_oneofs;
        EXPECT_EQ(field->containing_oneof()->name(), "_" + w.name);
      }
      if (!w.type_name.empty()) {
        const std::string full = "model_express.refit." + w.type_name;
        EXPECT_EQ(w.type == kMsg ? field->message_type()->full_name()
                                 : field->enum_type()->full_name(),
                  full);
      }
    }
    EXPECT_EQ(desc->oneof_decl_count(), synthetic_oneofs) << "no real oneofs";
  }
}

TEST(RefitProtoContract, EnumsHaveTheReferenceValues) {
  const FileDescriptor* file = File();
  const std::vector<std::pair<std::string, std::vector<std::string>>> want = {
      {"WorkerRole", {"WORKER_ROLE_UNSPECIFIED", "WORKER_ROLE_TRAINER", "WORKER_ROLE_GENERATOR"}},
      {"WeightPayloadFormat",
       {"WEIGHT_PAYLOAD_FORMAT_UNSPECIFIED", "WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR",
        "WEIGHT_PAYLOAD_FORMAT_XOR_DELTA"}},
      {"WeightVersionState",
       {"WEIGHT_VERSION_STATE_UNSPECIFIED", "WEIGHT_VERSION_STATE_STAGING",
        "WEIGHT_VERSION_STATE_READY", "WEIGHT_VERSION_STATE_RELEASING"}}};
  ASSERT_EQ(file->enum_type_count(), 3);
  for (int e = 0; e < 3; ++e) {
    const auto* desc = file->enum_type(e);
    EXPECT_EQ(desc->name(), want[e].first);
    ASSERT_EQ(desc->value_count(), static_cast<int>(want[e].second.size()));
    for (int v = 0; v < desc->value_count(); ++v) {
      EXPECT_EQ(desc->value(v)->name(), want[e].second[v]);
      EXPECT_EQ(desc->value(v)->number(), v);
    }
  }
}

TEST(RefitProtoContract, ServicesHaveTheReferenceUnaryMethods) {
  const FileDescriptor* file = File();
  ASSERT_EQ(file->service_count(), 2);
  const auto* refit = file->service(0);
  EXPECT_EQ(refit->full_name(), "model_express.refit.RefitService");
  const std::vector<std::vector<std::string>> methods = {
      {"CreateWeightVersion", "CreateWeightVersionRequest", "WeightVersion"},
      {"GetWeightVersion", "GetWeightVersionRequest", "WeightVersion"},
      {"DeleteWeightVersion", "DeleteWeightVersionRequest", "WeightVersion"},
      {"RegisterWorker", "RegisterWorkerRequest", "WorkerRegistration"},
      {"CreateWeightVersionShard", "CreateWeightVersionShardRequest",
       "CreateWeightVersionShardResponse"},
      {"ListWeightVersionShards", "ListWeightVersionShardsRequest",
       "ListWeightVersionShardsResponse"},
      {"DeleteWeightVersionShard", "DeleteWeightVersionShardRequest",
       "DeleteWeightVersionShardResponse"},
      {"RegisterVersionLease", "RegisterVersionLeaseRequest", "VersionLease"},
      {"DeleteVersionLease", "DeleteVersionLeaseRequest", "DeleteVersionLeaseResponse"}};
  ASSERT_EQ(refit->method_count(), static_cast<int>(methods.size()));
  for (int i = 0; i < refit->method_count(); ++i) {
    const auto* m = refit->method(i);
    EXPECT_EQ(m->name(), methods[i][0]);
    EXPECT_EQ(m->input_type()->name(), methods[i][1]);
    EXPECT_EQ(m->output_type()->name(), methods[i][2]);
    EXPECT_FALSE(m->client_streaming() || m->server_streaming());
  }
  const auto* worker = file->service(1);
  EXPECT_EQ(worker->full_name(), "model_express.refit.RefitWorkerService");
  ASSERT_EQ(worker->method_count(), 1);
  EXPECT_EQ(worker->method(0)->name(), "GetWeightVersionShardManifest");
  EXPECT_EQ(worker->method(0)->input_type()->name(), "GetWeightVersionShardManifestRequest");
  EXPECT_EQ(worker->method(0)->output_type()->name(), "GetWeightVersionShardManifestResponse");
}

TEST(RefitProtoContract, OptionalPresenceSurvivesTheWire) {
  model_express::refit::WeightVersion version;
  version.set_version_number(0);
  version.set_base_version_id("");
  model_express::refit::WeightVersion parsed;
  ASSERT_TRUE(parsed.ParseFromString(version.SerializeAsString()));
  EXPECT_TRUE(parsed.has_version_number());
  EXPECT_TRUE(parsed.has_base_version_id());
  model_express::refit::WeightVersion unset;
  ASSERT_TRUE(parsed.ParseFromString(unset.SerializeAsString()));
  EXPECT_FALSE(parsed.has_version_number());
  EXPECT_FALSE(parsed.has_base_version_id());
}

}  // namespace
