// The pure parts of the Kubernetes store: error mapping, names, the table
// codec and chunk reassembly.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "store/kubernetes/api_client.h"
#include "store/kubernetes/object_codec.h"

namespace mx::store::kube {
namespace {

const RequestInfo kInfo{"patch", "configmaps", "inference", "mxw-1"};

std::string StatusBody(const std::string& reason, const std::string& message) {
  return nlohmann::json{{"kind", "Status"}, {"reason", reason}, {"message", message}}.dump();
}

TEST(KubernetesStatusTest, HttpCodesMapToStatusCodes) {
  using C = absl::StatusCode;
  EXPECT_EQ(StatusFromResponse(200, "{}", kInfo).code(), C::kOk);
  EXPECT_EQ(StatusFromResponse(404, StatusBody("NotFound", "x"), kInfo).code(), C::kNotFound);
  EXPECT_EQ(StatusFromResponse(409, StatusBody("Conflict", "x"), kInfo).code(), C::kAborted);
  EXPECT_EQ(StatusFromResponse(409, StatusBody("AlreadyExists", "x"), kInfo).code(),
            C::kAlreadyExists);
  EXPECT_EQ(StatusFromResponse(401, "", kInfo).code(), C::kUnavailable);
  EXPECT_EQ(StatusFromResponse(410, StatusBody("Expired", "x"), kInfo).code(),
            C::kOutOfRange);
  EXPECT_EQ(StatusFromResponse(422, StatusBody("Invalid", "[]: Too long: must have at "
                                                               "most 1048576 bytes"), kInfo)
                .code(),
            C::kResourceExhausted);
  EXPECT_EQ(StatusFromResponse(422, StatusBody("Invalid", "bad name"), kInfo).code(),
            C::kInvalidArgument);
  EXPECT_EQ(StatusFromResponse(429, "", kInfo).code(), C::kUnavailable);
  EXPECT_EQ(StatusFromResponse(503, "<html>", kInfo).code(), C::kUnavailable);
}

TEST(KubernetesStatusTest, ForbiddenNamesTheRoleRuleToAdd) {
  const absl::Status s = StatusFromResponse(
      403, StatusBody("Forbidden", "configmaps \"mxw-1\" is forbidden"), kInfo);
  // mxd's own credentials: UNAVAILABLE, never a verdict on the caller.
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  const std::string m(s.message());
  EXPECT_NE(m.find("kubernetes store"), std::string::npos) << m;
  EXPECT_NE(m.find("verbs [\"patch\"] on resources [\"configmaps\"]"), std::string::npos) << m;
  EXPECT_NE(m.find("namespace \"inference\""), std::string::npos) << m;
  EXPECT_NE(m.find("rbac.yaml"), std::string::npos) << m;
}

TEST(KubernetesStatusTest, UrlEncodeEscapesSelectorSyntax) {
  EXPECT_EQ(UrlEncode("a.b/c=d,e in (f)"), "a.b%2Fc%3Dd%2Ce%20in%20%28f%29");
}

TEST(KubernetesNamesTest, HeadNamesAreValidDistinctAndDeterministic) {
  static const std::regex kDns1123("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  const std::vector<WorkerKey> keys = {
      {"5a5f555570065064", "w"},  {"5a5f555570065064", "W"}, {"5a5f555570065064", "../w"},
      {"5a5f55557006506", "4w"},  {"ab", "c"},               {"a", "bc"},
      {"NOT A SOURCE", ""},       {"", std::string(10000, 'x')}, {"5a5f555570065064", "Ünï"}};
  std::set<std::string> names;
  for (const auto& key : keys) {
    const std::string name = HeadName(key);
    EXPECT_TRUE(std::regex_match(name, kDns1123)) << name;
    EXPECT_LE(name.size(), 53u);
    EXPECT_EQ(name, HeadName(key));
    names.insert(name);
  }
  EXPECT_EQ(names.size(), keys.size());
  EXPECT_EQ(HeadName({"5a5f555570065064", "w"}).rfind("mxw-5a5f555570065064-", 0), 0u);
  // A chunk name is a DNS-1123 subdomain (253 max); the head name it
  // carries as a label value stays within a label's 63.
  const std::string chunk = ChunkName(HeadName(keys[0]), "0123abcd", 99);
  EXPECT_TRUE(std::regex_match(chunk, kDns1123)) << chunk;
  EXPECT_LE(HeadName(keys[0]).size(), 63u);
}

TEST(KubernetesNamesTest, LabelValuesAreKeptWhenValidAndHashedOtherwise) {
  EXPECT_EQ(LabelValue("5a5f555570065064"), "5a5f555570065064");
  const std::string hashed = LabelValue("deepseek-ai/DeepSeek-V3");
  EXPECT_EQ(hashed.rfind("h-", 0), 0u);
  EXPECT_LE(hashed.size(), 63u);
  EXPECT_EQ(LabelValue(std::string(64, 'a')).rfind("h-", 0), 0u);
  EXPECT_NE(LabelValue("a/b"), LabelValue("a/c"));
}

TEST(KubernetesNamesTest, NamespaceAndLabelChecksAgreeWithTheApiServersPatterns) {
  // The API server's patterns as regular expressions, the oracle for the
  // hand-written checks the store uses.
  static const std::regex kLabel("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$");
  static const std::regex kValue("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$");
  std::vector<std::string> cases = {"",        "a",       "A",      "0",      "-",      "a-",
                                    "-a",      "a-b",     "a--b",   "a.b",    "a_b",    "_a",
                                    "a_",      "ab.",     "Ab-9",   "kube-system", "ns/1",
                                    "ä",       "a b",     std::string(63, 'a'),
                                    std::string(64, 'a'), "a" + std::string(61, '-') + "b",
                                    "a" + std::string(62, '-') + "b"};
  for (const std::string& c : cases) {
    EXPECT_EQ(IsDns1123Label(c), std::regex_match(c, kLabel)) << "'" << c << "'";
    EXPECT_EQ(IsLabelValue(c), std::regex_match(c, kValue)) << "'" << c << "'";
  }
}

TEST(KubernetesTableTest, TablesRoundTripCompressedAndCorruptionIsDetected) {
  model_express::p2p::WorkerMetadata worker;
  for (int i = 0; i < 5000; ++i) {
    auto* t = worker.mutable_tensor_source()->add_tensors();
    t->set_name("layers." + std::to_string(i) + ".weight");
    t->set_addr(4096ULL * i);
  }
  const std::string stored = EncodeTable(worker);
  EXPECT_LT(stored.size(), worker.ByteSizeLong() / 4);
  auto back = DecodeTable(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), worker.SerializeAsString());
  EXPECT_EQ(DecodeTable(stored.substr(0, stored.size() / 2)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(KubernetesTableTest, ChunksJoinOnlyWhenCompleteAndUnchanged) {
  const std::string table = "0123456789abcdefghij";
  ChunkManifest manifest{"0000beef", 3, Sha256Hex(table)};
  std::vector<nlohmann::json> chunks = {BuildChunk("h", "uid", "0000beef", 2, table.substr(14)),
                                        BuildChunk("h", "uid", "0000beef", 0, table.substr(0, 7)),
                                        BuildChunk("h", "uid", "0000beef", 1, table.substr(7, 7))};
  auto joined = JoinChunks(chunks, manifest);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(*joined, table);
  EXPECT_EQ(chunks[0]["metadata"]["ownerReferences"][0]["uid"], "uid");
  EXPECT_EQ(JoinChunks({chunks[0], chunks[1]}, manifest).status().code(),
            absl::StatusCode::kFailedPrecondition);
  chunks[2] = BuildChunk("h", "uid", "0000beef", 1, "XXXXXXX");
  EXPECT_EQ(JoinChunks(chunks, manifest).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(KubernetesHeadTest, AHeadDecodesToTheRecordSummaryAndState) {
  WorkerRecord record;
  record.source_id = "5a5f555570065064";
  record.worker_id = std::string("w\0\xff", 3);
  record.identity.set_model_name("m/a");
  (*record.identity.mutable_extra_parameters())["training_step"] = "42";
  record.worker.set_worker_rank(3);
  record.worker.set_accelerator("H100");
  record.owner = "alice";
  HeadSpec spec{HeadName({record.source_id, record.worker_id}), "", &record,
                {model_express::p2p::SOURCE_STATUS_READY, 1234}, false, false};
  spec.inline_table = EncodeTable(record.worker);
  nlohmann::json object = BuildHead(spec);
  object["metadata"]["resourceVersion"] = "77";
  auto head = DecodeHead(object);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->summary->worker_id, record.worker_id);
  EXPECT_EQ(head->summary->owner, "alice");
  EXPECT_EQ(head->state.status, model_express::p2p::SOURCE_STATUS_READY);
  EXPECT_EQ(head->state.updated_at_ms, 1234);
  EXPECT_EQ(head->rv, 77u);
  EXPECT_EQ(head->ref.worker_rank, 3u);
  EXPECT_EQ(head->ref.accelerator, "H100");
  EXPECT_EQ(head->ref.training_step, std::optional<uint64_t>(42));
  EXPECT_TRUE(head->inline_table.has_value());
  EXPECT_FALSE(head->pending);
  const auto patch = StatusPatch("77", {model_express::p2p::SOURCE_STATUS_STALE, 99});
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "77");
  EXPECT_EQ(patch["metadata"]["labels"]["p2p.modelexpress.io/status"], "stale");
  EXPECT_EQ(patch["metadata"]["annotations"]["p2p.modelexpress.io/source-load"], "0");
  EXPECT_TRUE(head->summary->worker.topology().empty());
  EXPECT_EQ(head->state.source_load, 0.0f);
}

WorkerRecord PlacedRecord() {
  WorkerRecord record;
  record.source_id = "5a5f555570065064";
  record.worker_id = "w0";
  record.identity.set_model_name("m/a");
  (*record.worker.mutable_topology())["zone"] = "us-east-1a";
  (*record.worker.mutable_topology())["rack"] = "r12";
  return record;
}

TEST(KubernetesHeadTest, AHeadCarriesTheLoadAndTheTopology) {
  const WorkerRecord record = PlacedRecord();
  HeadSpec spec{HeadName({record.source_id, record.worker_id}), "", &record,
                {model_express::p2p::SOURCE_STATUS_READY, 1234, 0.375f}, false, false};
  spec.inline_table = EncodeTable(record.worker);
  auto head = DecodeHead(BuildHead(spec));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->state.source_load, 0.375f);
  const std::map<std::string, std::string> expected{{"zone", "us-east-1a"}, {"rack", "r12"}};
  EXPECT_EQ(head->ref.topology, expected);

  const auto patch = StatusPatch("77", {model_express::p2p::SOURCE_STATUS_READY, 99, 0.1f});
  nlohmann::json patched = BuildHead(spec);
  patched["metadata"]["annotations"].update(patch["metadata"]["annotations"]);
  auto after = DecodeHead(patched);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state.source_load, 0.1f);  // exact: compare-and-set compares states
}

TEST(KubernetesHeadTest, AHeadWrittenBeforeTheHintsExistedReadsLoadZeroAndNoTopology) {
  const WorkerRecord record = PlacedRecord();
  HeadSpec spec{HeadName({record.source_id, record.worker_id}), "", &record,
                {model_express::p2p::SOURCE_STATUS_READY, 1234, 0.5f}, false, false};
  spec.inline_table = EncodeTable(record.worker);
  nlohmann::json old = BuildHead(spec);
  // What an older mxd wrote: neither the annotation nor the binaryData key.
  ASSERT_EQ(old["metadata"]["annotations"].erase("p2p.modelexpress.io/source-load"), 1u);
  ASSERT_EQ(old["binaryData"].erase("topology"), 1u);
  auto head = DecodeHead(old);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->state.source_load, 0.0f);
  EXPECT_TRUE(head->ref.topology.empty());
  EXPECT_EQ(head->state.status, model_express::p2p::SOURCE_STATUS_READY);

  nlohmann::json odd = BuildHead(spec);
  odd["metadata"]["annotations"]["p2p.modelexpress.io/source-load"] = "lots";
  EXPECT_EQ(DecodeHead(odd)->state.source_load, 0.0f);
}

}  // namespace
}  // namespace mx::store::kube
