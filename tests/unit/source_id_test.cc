#include "mx/source_id.h"

#include <gtest/gtest.h>

namespace mx {
namespace {

using model_express::p2p::SourceIdentity;

SourceIdentity DeepSeekV3() {
  SourceIdentity id;
  id.set_mx_version("0.5.0");
  id.set_mx_source_type(model_express::p2p::MX_SOURCE_TYPE_WEIGHTS);
  id.set_model_name("deepseek-ai/DeepSeek-V3");
  id.set_backend_framework(model_express::p2p::BACKEND_FRAMEWORK_VLLM);
  id.set_tensor_parallel_size(8);
  id.set_pipeline_parallel_size(1);
  id.set_expert_parallel_size(0);
  id.set_dtype("bfloat16");
  return id;
}

TEST(SourceIdTest, MatchesTheContractVector) {
  EXPECT_EQ(ComputeSourceId(DeepSeekV3()), "5a5f555570065064");
}

TEST(SourceIdTest, CanonicalJsonIsCompactSortedAndLowercased) {
  EXPECT_EQ(CanonicalIdentityJson(DeepSeekV3()),
            "{\"backend_framework\":1,\"dtype\":\"bfloat16\",\"expert_parallel_size\":0,"
            "\"extra_parameters\":{},\"model_name\":\"deepseek-ai/deepseek-v3\","
            "\"mx_source_type\":0,\"mx_version\":\"0.5.0\",\"pipeline_parallel_size\":1,"
            "\"quantization\":\"\",\"revision\":\"\",\"tensor_parallel_size\":8}");
}

TEST(SourceIdTest, CaseOfStringValuesDoesNotChangeTheId) {
  SourceIdentity upper = DeepSeekV3();
  upper.set_model_name("DEEPSEEK-AI/DEEPSEEK-V3");
  upper.set_dtype("BFloat16");
  EXPECT_EQ(ComputeSourceId(upper), ComputeSourceId(DeepSeekV3()));
}

TEST(SourceIdTest, OptionalVersionFieldsAppearOnlyWhenSet) {
  SourceIdentity id = DeepSeekV3();
  EXPECT_EQ(CanonicalIdentityJson(id).find("torch_version"), std::string::npos);
  id.set_torch_version("2.5.1+CU124");
  id.set_gpu_arch("SM90");
  const std::string json = CanonicalIdentityJson(id);
  EXPECT_NE(json.find("\"gpu_arch\":\"sm90\",\"model_name\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"torch_version\":\"2.5.1+cu124\"}"), std::string::npos) << json;
  EXPECT_NE(ComputeSourceId(id), ComputeSourceId(DeepSeekV3()));
}

TEST(SourceIdTest, ExtraParametersAreSortedLoweredAndFirstCollisionWins) {
  SourceIdentity id = DeepSeekV3();
  auto& extra = *id.mutable_extra_parameters();
  extra["b"] = "Two";
  extra["A"] = "first";  // "A" < "a" in byte order, so it wins the collision
  extra["a"] = "second";
  const std::string json = CanonicalIdentityJson(id);
  EXPECT_NE(json.find("\"extra_parameters\":{\"a\":\"first\",\"b\":\"two\"}"),
            std::string::npos)
      << json;
}

TEST(SourceIdTest, StringsAreEscapedTheJsonWay) {
  SourceIdentity id = DeepSeekV3();
  id.set_model_name("a\"b\\c\nd\x01\x7f\xc3\xa9");
  const std::string json = CanonicalIdentityJson(id);
  EXPECT_NE(json.find("\"model_name\":\"a\\\"b\\\\c\\nd\\u0001\x7f\xc3\xa9\""),
            std::string::npos)
      << json;
}

TEST(SourceIdTest, IsSixteenLowercaseHexCharacters) {
  const std::string sid = ComputeSourceId(SourceIdentity());
  ASSERT_EQ(sid.size(), 16u);
  for (char c : sid) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << sid;
}

TEST(SourceIdTest, EveryIdentityFieldChangesTheId) {
  const std::string base = ComputeSourceId(DeepSeekV3());
  std::vector<SourceIdentity> variants(8, DeepSeekV3());
  variants[0].set_mx_version("0.6.0");
  variants[1].set_mx_source_type(model_express::p2p::MX_SOURCE_TYPE_LORA);
  variants[2].set_backend_framework(model_express::p2p::BACKEND_FRAMEWORK_SGLANG);
  variants[3].set_pipeline_parallel_size(2);
  variants[4].set_quantization("fp8");
  variants[5].set_revision("abc");
  variants[6].set_compile_config_digest("d1");
  (*variants[7].mutable_extra_parameters())["k"] = "v";
  for (const auto& v : variants) EXPECT_NE(ComputeSourceId(v), base) << v.DebugString();
}

}  // namespace
}  // namespace mx
