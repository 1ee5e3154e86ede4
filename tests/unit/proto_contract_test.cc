// Pins the generated descriptors to the wire contract, so an edit of
// proto/p2p.proto that would break shipped clients fails here.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "p2p.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct FieldSpec {
  std::string name;
  int number;
  FieldDescriptor::Type type;
  bool repeated = false;
  std::string oneof = "";      // real oneof name, if any
  bool proto3_optional = false;
  std::string type_name = "";  // message/enum full name
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kU32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kU64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kI64 = FieldDescriptor::TYPE_INT64;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kMsg = FieldDescriptor::TYPE_MESSAGE;

const std::string P(const std::string& n) { return "model_express.p2p." + n; }

const std::map<std::string, std::vector<FieldSpec>>& Contract() {
  static const auto* contract = new std::map<std::string, std::vector<FieldSpec>>{
      {"SourceIdentity",
       {{"mx_version", 1, kString},
        {"mx_source_type", 2, kEnum, false, "", false, P("MxSourceType")},
        {"model_name", 3, kString},
        {"backend_framework", 4, kEnum, false, "", false, P("BackendFramework")},
        {"tensor_parallel_size", 5, kU32},
        {"pipeline_parallel_size", 6, kU32},
        {"expert_parallel_size", 7, kU32},
        {"dtype", 8, kString},
        {"quantization", 9, kString},
        {"extra_parameters", 10, kMsg, true, "", false,
         P("SourceIdentity.ExtraParametersEntry")},
        {"revision", 11, kString},
        {"backend_framework_version", 12, kString},
        {"torch_version", 13, kString},
        {"cuda_version", 14, kString},
        {"triton_version", 15, kString},
        {"gpu_arch", 16, kString},
        {"compile_config_digest", 17, kString}}},
      {"TensorDescriptor",
       {{"name", 1, kString},
        {"addr", 2, kU64},
        {"size", 3, kU64},
        {"device_id", 4, kU32},
        {"dtype", 5, kString}}},
      {"TensorSourceMetadata",
       {{"tensors", 1, kMsg, true, "", false, P("TensorDescriptor")}}},
      {"ArtifactSourceMetadata",
       {{"artifact_id", 1, kString},
        {"total_size", 2, kU64},
        {"file_count", 3, kU32},
        {"chunk_count", 4, kU32},
        {"node_rank", 5, kU32}}},
      {"WorkerMetadata",
       {{"worker_rank", 1, kU32},
        {"nixl_metadata", 2, kBytes, false, "backend_metadata"},
        {"tensors", 3, kMsg, true, "", false, P("TensorDescriptor")},
        {"status", 4, kEnum, false, "", false, P("SourceStatus")},
        {"updated_at", 5, kI64},
        {"metadata_endpoint", 6, kString},
        {"agent_name", 7, kString},
        {"worker_grpc_endpoint", 8, kString},
        {"accelerator", 9, kString},
        {"transfer_engine_session_id", 10, kString, false, "backend_metadata"},
        {"tensor_source", 20, kMsg, false, "source_payload", false, P("TensorSourceMetadata")},
        {"artifact_source", 21, kMsg, false, "source_payload", false,
         P("ArtifactSourceMetadata")},
        {"topology", 11, kMsg, true, "", false, P("WorkerMetadata.TopologyEntry")}}},
      {"PublishMetadataRequest",
       {{"identity", 1, kMsg, false, "", false, P("SourceIdentity")},
        {"worker", 2, kMsg, false, "", false, P("WorkerMetadata")},
        {"worker_id", 3, kString},
        {"pod_name", 4, kString},
        {"pod_uid", 5, kString},
        {"pod_namespace", 6, kString}}},
      {"PublishMetadataResponse",
       {{"success", 1, kBool},
        {"message", 2, kString},
        {"mx_source_id", 3, kString},
        {"worker_id", 4, kString}}},
      {"SourceInstanceRef",
       {{"mx_source_id", 1, kString},
        {"worker_id", 2, kString},
        {"model_name", 3, kString},
        {"worker_rank", 4, kU32},
        {"accelerator", 5, kString},
        {"updated_at", 6, kI64},
        {"training_step", 7, kU64, false, "", true},
        {"layout_signature", 8, kString, false, "", true},
        {"topology", 9, kMsg, true, "", false, P("SourceInstanceRef.TopologyEntry")},
        {"source_load", 10, kFloat}}},
      {"ListSourcesRequest",
       {{"identity", 1, kMsg, false, "", false, P("SourceIdentity")},
        {"status_filter", 2, kEnum, false, "", true, P("SourceStatus")},
        {"model_name_filter", 3, kString, false, "", true},
        {"worker_rank_filter", 4, kU32, false, "", true},
        {"min_training_step", 5, kU64, false, "", true},
        {"min_updated_at", 6, kI64, false, "", true},
        {"limit", 7, kU32, false, "", true}}},
      {"ListSourcesResponse",
       {{"instances", 1, kMsg, true, "", false, P("SourceInstanceRef")}}},
      {"GetMetadataRequest", {{"mx_source_id", 1, kString}, {"worker_id", 2, kString}}},
      {"GetMetadataResponse",
       {{"found", 1, kBool},
        {"worker", 2, kMsg, false, "", false, P("WorkerMetadata")},
        {"mx_source_id", 3, kString},
        {"worker_id", 4, kString},
        {"identity", 5, kMsg, false, "", false, P("SourceIdentity")}}},
      {"UpdateStatusRequest",
       {{"mx_source_id", 1, kString},
        {"worker_rank", 2, kU32},
        {"status", 3, kEnum, false, "", false, P("SourceStatus")},
        {"worker_id", 4, kString},
        {"source_load", 5, kFloat}}},
      {"UpdateStatusResponse", {{"success", 1, kBool}, {"message", 2, kString}}},
  };
  return *contract;
}

const DescriptorPool* Pool() {
  // Touch a generated type so the file is registered in the generated pool.
  (void)model_express::p2p::PublishMetadataRequest::descriptor();
  return DescriptorPool::generated_pool();
}

TEST(ProtoContractTest, FileIsProto3InTheContractPackage) {
  const auto* file = model_express::p2p::PublishMetadataRequest::descriptor()->file();
  EXPECT_EQ(file->package(), "model_express.p2p");
  EXPECT_EQ(file->syntax(), google::protobuf::FileDescriptor::SYNTAX_PROTO3);
}

TEST(ProtoContractTest, EveryMessageHasExactlyTheContractFields) {
  for (const auto& [message, fields] : Contract()) {
    const Descriptor* d = Pool()->FindMessageTypeByName(P(message));
    ASSERT_NE(d, nullptr) << message;
    EXPECT_EQ(d->field_count(), static_cast<int>(fields.size())) << message;
    for (const FieldSpec& spec : fields) {
      const FieldDescriptor* f = d->FindFieldByNumber(spec.number);
      ASSERT_NE(f, nullptr) << message << "." << spec.name;
      EXPECT_EQ(f->name(), spec.name) << message << " #" << spec.number;
      EXPECT_EQ(f->type(), spec.type) << message << "." << spec.name;
      EXPECT_EQ(f->is_repeated(), spec.repeated) << message << "." << spec.name;
      const auto* oneof = f->real_containing_oneof();
      EXPECT_EQ(oneof ? oneof->name() : "", spec.oneof) << message << "." << spec.name;
      EXPECT_EQ(f->has_presence() && !oneof && f->type() != kMsg, spec.proto3_optional)
          << message << "." << spec.name;
      if (!spec.type_name.empty()) {
        const std::string actual =
            f->type() == kEnum ? f->enum_type()->full_name() : f->message_type()->full_name();
        EXPECT_EQ(actual, spec.type_name) << message << "." << spec.name;
      }
    }
  }
}

TEST(ProtoContractTest, ExtraParametersIsAStringToStringMap) {
  const auto* f = model_express::p2p::SourceIdentity::descriptor()->FindFieldByName(
      "extra_parameters");
  ASSERT_TRUE(f->is_map());
  EXPECT_EQ(f->message_type()->map_key()->type(), kString);
  EXPECT_EQ(f->message_type()->map_value()->type(), kString);
}

TEST(ProtoContractTest, TopologyFieldsAreStringToStringMaps) {
  for (const auto* f :
       {model_express::p2p::WorkerMetadata::descriptor()->FindFieldByName("topology"),
        model_express::p2p::SourceInstanceRef::descriptor()->FindFieldByName("topology")}) {
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->is_map()) << f->full_name();
    EXPECT_EQ(f->message_type()->map_key()->type(), kString) << f->full_name();
    EXPECT_EQ(f->message_type()->map_value()->type(), kString) << f->full_name();
  }
}

TEST(ProtoContractTest, EnumsHaveTheContractValues) {
  const std::map<std::string, std::vector<std::pair<std::string, int>>> enums = {
      {"BackendFramework",
       {{"BACKEND_FRAMEWORK_UNKNOWN", 0},
        {"BACKEND_FRAMEWORK_VLLM", 1},
        {"BACKEND_FRAMEWORK_SGLANG", 2},
        {"BACKEND_FRAMEWORK_TRT_LLM", 3}}},
      {"MxSourceType",
       {{"MX_SOURCE_TYPE_WEIGHTS", 0},
        {"MX_SOURCE_TYPE_LORA", 1},
        {"MX_SOURCE_TYPE_CUDA_GRAPH", 2},
        {"MX_SOURCE_TYPE_TORCH_COMPILE_CACHE", 3},
        {"MX_SOURCE_TYPE_TRITON_CACHE", 4},
        {"MX_SOURCE_TYPE_DEEP_GEMM_CACHE", 5},
        {"MX_SOURCE_TYPE_TILELANG_CACHE", 6},
        {"MX_SOURCE_TYPE_CUTE_DSL_CACHE", 7},
        {"MX_SOURCE_TYPE_FLASHINFER_CACHE", 8},
        {"MX_SOURCE_TYPE_TVM_FFI_CACHE", 9}}},
      {"SourceStatus",
       {{"SOURCE_STATUS_UNKNOWN", 0},
        {"SOURCE_STATUS_INITIALIZING", 1},
        {"SOURCE_STATUS_READY", 2},
        {"SOURCE_STATUS_STALE", 3}}},
  };
  for (const auto& [name, values] : enums) {
    const auto* e = Pool()->FindEnumTypeByName(P(name));
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->value_count(), static_cast<int>(values.size())) << name;
    for (const auto& [value_name, number] : values) {
      const auto* v = e->FindValueByName(value_name);
      ASSERT_NE(v, nullptr) << value_name;
      EXPECT_EQ(v->number(), number) << value_name;
    }
  }
}

TEST(ProtoContractTest, ServiceHasExactlyTheFourUnaryMethods) {
  const auto* service = Pool()->FindServiceByName(P("P2pService"));
  ASSERT_NE(service, nullptr);
  const std::vector<std::vector<std::string>> methods = {
      {"PublishMetadata", "PublishMetadataRequest", "PublishMetadataResponse"},
      {"ListSources", "ListSourcesRequest", "ListSourcesResponse"},
      {"GetMetadata", "GetMetadataRequest", "GetMetadataResponse"},
      {"UpdateStatus", "UpdateStatusRequest", "UpdateStatusResponse"},
  };
  EXPECT_EQ(service->method_count(), 4);
  for (const auto& m : methods) {
    const auto* method = service->FindMethodByName(m[0]);
    ASSERT_NE(method, nullptr) << m[0];
    EXPECT_EQ(method->input_type()->full_name(), P(m[1]));
    EXPECT_EQ(method->output_type()->full_name(), P(m[2]));
    EXPECT_FALSE(method->client_streaming());
    EXPECT_FALSE(method->server_streaming());
  }
}

}  // namespace
