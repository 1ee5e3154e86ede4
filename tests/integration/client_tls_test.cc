// TLS options against a TLS gRPC server on loopback (health service only),
// with a throwaway CA made by the openssl CLI.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "gtest/gtest.h"
#include "mx/client.h"
#include "p2p.grpc.pb.h"

namespace mx::testing {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class ClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/mx_client_tls_" + std::to_string(getpid()));
    const std::string d = *dir_;
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string script =
        "set -e; rm -rf " + d + "; mkdir -p " + d + "; cd " + d + ";" +
        "openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 1 -subj /CN=mx-test-ca;" +
        "for n in server client; do openssl req" + ec + "-keyout $n.key -out $n.csr -subj /CN=$n;" +
        " printf 'subjectAltName=DNS:mxd.test' > $n.ext;" +
        " openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem" +
        " -days 1 -extfile $n.ext; done";
    std::ofstream(d + ".sh") << script << "\n";
    ok_ = std::system(("bash " + d + ".sh > " + d + ".log 2>&1").c_str()) == 0;
  }

  void StartTlsServer(bool require_client_cert) {
    ASSERT_TRUE(ok_) << "openssl failed; see " << *dir_ << ".log";
    grpc::SslServerCredentialsOptions ssl(
        require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_root_certs = Read(*dir_ + "/ca.pem");
    ssl.pem_key_cert_pairs.push_back({Read(*dir_ + "/server.key"), Read(*dir_ + "/server.pem")});
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port_);
    builder.RegisterService(&unimplemented_);  // a callback service keeps a polled queue
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    server_->GetHealthCheckService()->SetServingStatus("", true);
  }

  absl::StatusOr<HealthStatus> Check(bool with_ca, bool with_client_cert) {
    ClientOptions options;
    options.address = "127.0.0.1:" + std::to_string(port_);
    options.deadline = std::chrono::milliseconds(3000);
    options.retry.max_attempts = 1;
    options.use_tls = true;
    options.tls.server_name_override = "mxd.test";
    if (with_ca) options.tls.ca_file = *dir_ + "/ca.pem";
    if (with_client_cert) {
      options.tls.cert_file = *dir_ + "/client.pem";
      options.tls.key_file = *dir_ + "/client.key";
    }
    auto client = Client::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->CheckHealth();
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  static void TearDownTestSuite() {
    (void)std::system(("rm -rf " + *dir_ + " " + *dir_ + ".sh " + *dir_ + ".log").c_str());
    delete dir_;
  }

  static std::string* dir_;
  static bool ok_;
  int port_ = 0;
  model_express::p2p::P2pService::CallbackService unimplemented_;
  std::unique_ptr<grpc::Server> server_;
};

std::string* ClientTlsTest::dir_ = nullptr;
bool ClientTlsTest::ok_ = false;

TEST_F(ClientTlsTest, VerifiesTheServerAgainstTheGivenCaAndServerName) {
  StartTlsServer(false);
  auto trusted = Check(true, false);
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  EXPECT_EQ(*trusted, HealthStatus::kServing);
  // Without our CA the system roots do not know the server's certificate.
  EXPECT_TRUE(absl::IsUnavailable(Check(false, false).status()));
}

TEST_F(ClientTlsTest, PresentsTheClientCertificateForMutualTls) {
  StartTlsServer(true);
  auto with_cert = Check(true, true);
  ASSERT_TRUE(with_cert.ok()) << with_cert.status();
  EXPECT_EQ(*with_cert, HealthStatus::kServing);
  EXPECT_FALSE(Check(true, false).ok());
}

}  // namespace
}  // namespace mx::testing
