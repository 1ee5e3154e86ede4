#include <sstream>

#include "cli/flags.h"
#include "cli/identity_input.h"
#include "cli/mxctl.h"
#include "cli/proto_json.h"
#include "cli/table.h"
#include "gtest/gtest.h"
#include "mx/source_id.h"

namespace mx::cli {
namespace {

namespace p2p = model_express::p2p;

TEST(FlagsTest, ParsesValuesSwitchesRepeatsAndPositionals) {
  std::vector<FlagSpec> specs = {{"a", "V", ""}, {"b", "", ""}, {"x", "K=V", "", true}};
  auto parsed = ParseFlags({"p1", "--a", "1", "--b", "--x=k=v", "--x", "y=z", "--a=2", "--", "--p2"},
                           specs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("a"), "2");
  EXPECT_TRUE(parsed->Has("b"));
  EXPECT_EQ(parsed->All("x"), (std::vector<std::string>{"k=v", "y=z"}));
  EXPECT_EQ(parsed->positionals, (std::vector<std::string>{"p1", "--p2"}));
  EXPECT_FALSE(ParseFlags({"--nope"}, specs).ok());
  EXPECT_FALSE(ParseFlags({"--a"}, specs).ok());
  EXPECT_FALSE(ParseFlags({"--b=maybe"}, specs).ok());
}

TEST(IdentityInputTest, FlagsOverrideJsonAndEnumsAcceptShortNamesAndNumbers) {
  std::istringstream in(R"({"model_name": "from-json", "dtype": "fp8", "tensor_parallel_size": 4})");
  std::vector<FlagSpec> specs = IdentityFlags();
  auto args = ParseFlags({"--identity", "-", "--model", "flag-model", "--framework", "sglang",
                          "--source-type", "2", "--extra", "a=b"},
                         specs);
  ASSERT_TRUE(args.ok());
  auto identity = IdentityFromArgs(*args, in);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->model_name(), "flag-model");
  EXPECT_EQ(identity->dtype(), "fp8");
  EXPECT_EQ(identity->tensor_parallel_size(), 4u);
  EXPECT_EQ(identity->backend_framework(), p2p::BACKEND_FRAMEWORK_SGLANG);
  EXPECT_EQ(identity->mx_source_type(), p2p::MX_SOURCE_TYPE_CUDA_GRAPH);
  EXPECT_EQ(identity->extra_parameters().at("a"), "b");
  EXPECT_EQ(*ParseStatus("ready"), p2p::SOURCE_STATUS_READY);
  EXPECT_EQ(*ParseStatus("SOURCE_STATUS_STALE"), p2p::SOURCE_STATUS_STALE);
  EXPECT_FALSE(ParseStatus("9").ok());
  EXPECT_FALSE(ParseFramework("pytorch").ok());
}

TEST(ProtoJsonTest, SixtyFourBitIntegersRoundTripAsStrings) {
  p2p::TensorDescriptor tensor;
  tensor.set_addr(UINT64_MAX);
  const std::string text = ToJson(tensor);
  EXPECT_NE(text.find("\"addr\":\"18446744073709551615\""), std::string::npos) << text;
  p2p::TensorDescriptor back;
  ASSERT_TRUE(FromJson(text, &back).ok());
  EXPECT_EQ(back.addr(), UINT64_MAX);
  EXPECT_FALSE(FromJson(R"({"unknown_field": 1})", &back).ok());
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  EXPECT_EQ(RenderTable({"A", "BB"}, {{"xxx", "y"}}), "A    BB\nxxx  y\n");
}

TEST(RunMxctlTest, HashRunsInProcessAndUsageErrorsExitTwo) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunMxctl({"hash", "--model", "m"}, "", {in, out, err}), 0);
  p2p::SourceIdentity identity;
  identity.set_model_name("m");
  EXPECT_EQ(out.str(), ComputeSourceId(identity) + "\n");
  EXPECT_EQ(RunMxctl({"hash"}, "", {in, out, err}), 2);
  EXPECT_EQ(RunMxctl({"get", "only-one-arg"}, "", {in, out, err}), 2);
}

}  // namespace
}  // namespace mx::cli
