// mxctl (the real binary) against an mxd with mutual TLS and token auth:
// the client's TLS and token options meet the server's.
#include <gtest/gtest.h>

#include "mxctl_fixture.h"
#include "ops_fixture.h"

namespace mx::testing {
namespace {

constexpr char kPublisher[] = "mxctl-ops-publisher-token-1";
constexpr char kReader[] = "mxctl-ops-reader-token-0001";

const char kPublishJson[] = R"({
  "identity": {"mx_version": "0.5.0", "model_name": "org/ops-model", "tensor_parallel_size": 1},
  "worker_id": "ops-w0",
  "worker": {"worker_rank": 0, "nixl_metadata": "YmxvYg==",
             "tensor_source": {"tensors": [{"name": "w", "addr": "1", "size": "2"}]}}
})";

class MxctlOpsTest : public MxctlFixture {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    ASSERT_FALSE(dir_.empty());
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    WriteFile(P("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    WriteFile(P("client.ext"), "extendedKeyUsage=clientAuth\n");
    ASSERT_TRUE(RunShell("cd " + dir_ + " && openssl req -x509 " + ec +
                         " -keyout ca.key -out ca.crt -days 2 -subj /CN=ca 2>/dev/null"));
    for (const std::string name : {"server", "client"}) {
      ASSERT_TRUE(RunShell("cd " + dir_ + " && openssl req " + ec + " -keyout " + name +
                           ".key -out " + name + ".csr -subj /CN=" + name +
                           " 2>/dev/null && openssl x509 -req -in " + name +
                           ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + name +
                           ".crt -days 2 -extfile " + name + ".ext 2>/dev/null"));
    }
    WriteFile(P("tokens"), std::string(kPublisher) + ",engine,publisher\n" + kReader +
                               ",dash,reader\n");
    WriteFile(P("publisher.token"), std::string(kPublisher) + "\n");
    server::ServerConfig config;
    config.tls.cert_file = P("server.crt");
    config.tls.key_file = P("server.key");
    config.tls.client_ca_file = P("ca.crt");
    config.auth.token_file = P("tokens");
    StartMxd(config);
  }
  void TearDown() override {
    server_.reset();
    RunShell("rm -rf " + dir_);
  }
  std::string P(const std::string& name) const { return dir_ + "/" + name; }

  // mxctl with the client certificate, or (tls = false) plaintext.
  ProcessResult Mxctl(std::vector<std::string> args, bool tls = true,
                      const std::string& input = "") {
    global_flags_ = {"--timeout=5"};
    if (tls) {
      global_flags_.insert(global_flags_.end(),
                           {"--ca-file=" + P("ca.crt"), "--cert-file=" + P("client.crt"),
                            "--key-file=" + P("client.key"), "--server-name=localhost"});
    }
    return MxctlFixture::Mxctl(std::move(args), input);
  }

  std::string dir_;
};

TEST_F(MxctlOpsTest, PublishesAndListsOverMutualTlsWithAToken) {
  auto published =
      Mxctl({"--token-file=" + P("publisher.token"), "publish", "--json"}, true, kPublishJson);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  auto listed = Mxctl({std::string("--token=") + kReader, "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("ops-w0"), std::string::npos) << listed.out;
}

TEST_F(MxctlOpsTest, RefusedCallsFailWithTheRightCodeAndHealthStaysOpen) {
  auto anonymous = Mxctl({"list"});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("UNAUTHENTICATED"), std::string::npos) << anonymous.err;
  auto reader = Mxctl({std::string("--token=") + kReader, "publish"}, true, kPublishJson);
  EXPECT_EQ(reader.exit_code, 1);
  EXPECT_NE(reader.err.find("PERMISSION_DENIED"), std::string::npos) << reader.err;
  EXPECT_NE(Mxctl({std::string("--token=") + kReader, "list"}, /*tls=*/false).exit_code, 0)
      << "plaintext client against the TLS port";
  auto health = Mxctl({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  for (const auto* r : {&anonymous, &reader}) {
    EXPECT_EQ(r->err.find(kReader), std::string::npos);
  }
}

}  // namespace
}  // namespace mx::testing
