// TLS and mutual TLS on the gRPC port, with certificates made by the
// openssl CLI at test time, and rotation on disk without a restart.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "ops_fixture.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using mx::testing::RunShell;
using mx::testing::PollUntil;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mx::testing::NewTempDir();
    ASSERT_FALSE(dir_.empty());
    ASSERT_TRUE(MakeCa("ca1"));
    ASSERT_TRUE(MakeCa("ca2"));
    ASSERT_TRUE(MakeCert("ca1", "server1", "mxd-one", "serverAuth"));
    ASSERT_TRUE(MakeCert("ca2", "server2", "mxd-two", "serverAuth"));
    ASSERT_TRUE(MakeCert("ca1", "client1", "engine-a", "clientAuth"));
    ASSERT_TRUE(MakeCert("ca2", "client2", "intruder", "clientAuth"));
    ASSERT_TRUE(RunShell("cp " + P("server1.crt") + " " + P("tls.crt") + " && cp " +
                    P("server1.key") + " " + P("tls.key")));
  }
  void TearDown() override {
    server_.reset();
    RunShell("rm -rf " + dir_);
  }

  std::string P(const std::string& name) const { return dir_ + "/" + name; }

  bool MakeCa(const std::string& name) {
    return RunShell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
               "-keyout " + P(name + ".key") + " -out " + P(name + ".crt") +
               " -days 2 -subj /CN=" + name + " 2>/dev/null");
  }

  bool MakeCert(const std::string& ca, const std::string& name, const std::string& cn,
                const std::string& usage) {
    mx::testing::WriteFile(P(name + ".ext"),
                           "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=" +
                               usage + "\n");
    return RunShell("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
               P(name + ".key") + " -out " + P(name + ".csr") + " -subj /CN=" + cn +
               " 2>/dev/null && openssl x509 -req -in " + P(name + ".csr") + " -CA " +
               P(ca + ".crt") + " -CAkey " + P(ca + ".key") + " -CAcreateserial -out " +
               P(name + ".crt") + " -days 2 -extfile " + P(name + ".ext") + " 2>/dev/null");
  }

  void StartServer(bool mutual) {
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";
    config.tls.cert_file = P("tls.crt");
    config.tls.key_file = P("tls.key");
    if (mutual) config.tls.client_ca_file = P("ca1.crt");
    config.tls.reload_interval = std::chrono::seconds(1);
    auto server = Server::Start(config, std::make_unique<store::MemoryStore>());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // One ListSources on a fresh channel; fills the server's CN when asked.
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> creds,
                    std::string* server_cn = nullptr) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                             creds, args);
    auto stub = p2p::P2pService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    p2p::ListSourcesResponse out;
    grpc::Status status = stub->ListSources(&ctx, {}, &out);
    if (status.ok() && server_cn != nullptr && ctx.auth_context() != nullptr) {
      for (const auto& v : ctx.auth_context()->FindPropertyValues("x509_common_name")) {
        *server_cn = std::string(v.data(), v.size());
      }
    }
    return status;
  }

  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca,
                                                const std::string& client = "") {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = Read(P(ca + ".crt"));
    if (!client.empty()) {
      o.pem_private_key = Read(P(client + ".key"));
      o.pem_cert_chain = Read(P(client + ".crt"));
    }
    return grpc::SslCredentials(o);
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsTest, TlsClientsConnectAndPlaintextClientsAreRefused) {
  StartServer(false);
  std::string cn;
  grpc::Status ok = Call(Tls("ca1"), &cn);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(cn, "mxd-one");
  EXPECT_FALSE(Call(grpc::InsecureChannelCredentials()).ok());
  EXPECT_FALSE(Call(Tls("ca2")).ok()) << "a client trusting another CA must not connect";
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  StartServer(true);
  grpc::Status with_cert = Call(Tls("ca1", "client1"));
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
  EXPECT_FALSE(Call(Tls("ca1")).ok()) << "no client certificate";
  EXPECT_FALSE(Call(Tls("ca1", "client2")).ok()) << "client certificate from another CA";
  EXPECT_FALSE(Call(grpc::InsecureChannelCredentials()).ok());
}

TEST_F(TlsTest, RotatedCertificateOnDiskIsServedWithoutRestart) {
  StartServer(false);
  std::string cn;
  ASSERT_TRUE(Call(Tls("ca1"), &cn).ok());
  ASSERT_EQ(cn, "mxd-one");
  // Replace both files by rename, as a secret volume update does.
  ASSERT_TRUE(RunShell("cp " + P("server2.key") + " " + P("tls.key.new") + " && cp " +
                  P("server2.crt") + " " + P("tls.crt.new") + " && mv " + P("tls.key.new") + " " +
                  P("tls.key") + " && mv " + P("tls.crt.new") + " " + P("tls.crt")));
  EXPECT_TRUE(PollUntil(
      [&] {
        std::string now;
        return Call(Tls("ca2"), &now).ok() && now == "mxd-two";
      },
      std::chrono::seconds(20)));
  EXPECT_FALSE(Call(Tls("ca1")).ok()) << "the old certificate is no longer served";
}

TEST(TlsConfigCheck, MismatchedKeyAndMissingFilesFailAtStartup) {
  const std::string dir = mx::testing::NewTempDir();
  ASSERT_TRUE(RunShell("cd " + dir +
                  " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                  "-keyout a.key -out a.crt -days 1 -subj /CN=a 2>/dev/null && openssl req -x509 "
                  "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout b.key -out "
                  "b.crt -days 1 -subj /CN=b 2>/dev/null"));
  TlsConfig tls;
  tls.cert_file = dir + "/a.crt";
  tls.key_file = dir + "/b.key";
  EXPECT_TRUE(absl::IsInvalidArgument(CheckTlsFiles(tls)));
  tls.key_file = dir + "/a.key";
  EXPECT_TRUE(CheckTlsFiles(tls).ok());
  tls.cert_file = dir + "/missing.crt";
  EXPECT_TRUE(absl::IsInvalidArgument(CheckTlsFiles(tls)));
  RunShell("rm -rf " + dir);
}

}  // namespace
}  // namespace mx::server
