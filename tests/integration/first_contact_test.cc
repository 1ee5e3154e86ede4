// Issue 10, first contact: a taken or invalid listen address is one line
// and exit 2, --version on both binaries, errors naming their source and
// the OS reason, mxctl list's STATUS column, and the README's example file.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "gtest/gtest.h"
#include "mx/client.h"
#include "mx/source_id.h"
#include "nlohmann/json.hpp"
#include "server/listen_address.h"
#include "store/memory/memory_store.h"
#include "test_support.h"

namespace mx::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

struct Bounded {
  bool exited = false;  // false: still running after the deadline (killed)
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs mxd with `args` for at most `timeout`; a run that would serve is
// killed and reported as not exited, so a missing check fails, not hangs.
Bounded RunMxdBounded(const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {},
                      std::chrono::milliseconds timeout = seconds(20)) {
  static int counter = 0;
  const std::string log =
      ::testing::TempDir() + "/first_contact_" + std::to_string(getpid()) + "_" +
      std::to_string(++counter) + ".log";
  std::vector<std::string> argv = {BinaryPath("mxd")};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess child;
  Bounded result;
  if (!child.Start(argv, log, env)) return result;
  auto status = child.Wait(timeout);
  if (status.has_value()) {
    result.exited = true;
    result.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  } else {
    child.Signal(SIGKILL);
    child.Wait(seconds(10));
  }
  result.output = child.ReadLog();
  std::remove(log.c_str());
  return result;
}

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(MX_SOURCE_DIR) + "/" + relative);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(ListenAddressTest, ParsesHostsPortsAndBracketedIpv6) {
  auto v4 = server::ParseListenAddress("127.0.0.1:8001");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8001);
  auto v6 = server::ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_TRUE(server::ParseListenAddress("localhost:65535").ok());
}

TEST(ListenAddressTest, RejectsMissingHostsAndOutOfRangePorts) {
  for (const char* bad : {"127.0.0.1:70000", "127.0.0.1:65536", "127.0.0.1:", ":8021",
                          "127.0.0.1:-1", "127.0.0.1:80a", "::1:8001", "8001", "[::1]:",
                          "127.0.0.1:99999999999999999999", "a b:1"}) {
    auto parsed = server::ParseListenAddress(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << bad;
  }
}

TEST(ListenAddressTest, ProbingAListenedPortNamesTheOsReason) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::Status probe = server::ProbeListen({"127.0.0.1", server->port()});
  EXPECT_TRUE(absl::IsUnavailable(probe)) << probe;
  EXPECT_EQ(probe.message(), std::strerror(EADDRINUSE));
  EXPECT_TRUE(server::ProbeListen({"127.0.0.1", FreePort()}).ok());
}

TEST(TakenPortTest, AnInProcessServerOnATakenPortFailsWithTheOsReason) {
  auto first = StartServer(FreePort());
  ASSERT_NE(first, nullptr);
  server::ServerConfig config;
  config.listen = "127.0.0.1:" + std::to_string(first->port());
  config.metrics_listen = "";
  auto second = server::Server::Start(config, std::make_unique<store::MemoryStore>());
  ASSERT_FALSE(second.ok()) << "two servers share port " << first->port();
  EXPECT_NE(second.status().message().find("Address already in use"), std::string::npos)
      << second.status();
}

TEST(TakenPortTest, ASecondMxdOnATakenGrpcOrMetricsPortExitsTwoWithTheReason) {
  const int grpc_port = FreePort(), metrics_port = FreePort();
  ASSERT_GT(grpc_port, 0);
  ASSERT_GT(metrics_port, 0);
  ChildProcess first;
  const std::string grpc = "127.0.0.1:" + std::to_string(grpc_port);
  const std::string metrics = "127.0.0.1:" + std::to_string(metrics_port);
  ASSERT_EQ(StartMxd(&first, {"--listen", grpc, "--metrics-listen", metrics},
                     ::testing::TempDir() + "/first_mxd_" + std::to_string(getpid()) + ".log"),
            grpc_port)
      << first.ReadLog();

  auto same_grpc = RunMxdBounded({"--listen", grpc, "--metrics-listen", "0"});
  ASSERT_TRUE(same_grpc.exited) << "a second mxd served on taken port " << grpc << ":\n"
                                << same_grpc.output;
  EXPECT_EQ(same_grpc.exit_code, 2) << same_grpc.output;
  EXPECT_NE(same_grpc.output.find("mxd: --listen " + grpc + ": cannot listen: Address already in use"),
            std::string::npos)
      << same_grpc.output;

  auto same_metrics =
      RunMxdBounded({"--listen", "127.0.0.1:" + std::to_string(FreePort()), "--metrics-listen",
                     metrics});
  ASSERT_TRUE(same_metrics.exited) << "a second mxd served metrics on taken port " << metrics
                                   << ":\n" << same_metrics.output;
  EXPECT_EQ(same_metrics.exit_code, 2) << same_metrics.output;
  EXPECT_NE(same_metrics.output.find("--metrics-listen " + metrics), std::string::npos)
      << same_metrics.output;
  EXPECT_NE(same_metrics.output.find("Address already in use"), std::string::npos);

  // The first mxd is untouched and still the only one answering.
  auto client = MakeClient(grpc_port);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Publish(MakeRequest("m", "w")).ok());
  EXPECT_EQ(client->ListSources({})->size(), 1u);
  EXPECT_TRUE(first.running());
}

TEST(ListenFlagTest, InvalidListenAddressesExitTwoWithOneLineNamingTheirSource) {
  for (const char* bad : {"127.0.0.1:70000", "127.0.0.1:65536", "127.0.0.1:", ":8021",
                          "127.0.0.1:http"}) {
    auto run = RunMxdBounded({"--listen", bad, "--metrics-listen", "0"});
    ASSERT_TRUE(run.exited) << "mxd served with --listen " << bad << ":\n" << run.output;
    EXPECT_EQ(run.exit_code, 2) << bad << ": " << run.output;
    EXPECT_EQ(run.output.rfind("mxd: --listen: '" + std::string(bad) + "'", 0), 0u) << run.output;
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  }
  auto metrics = RunMxdBounded({"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:99999"});
  ASSERT_TRUE(metrics.exited) << metrics.output;
  EXPECT_EQ(metrics.exit_code, 2);
  EXPECT_EQ(metrics.output.rfind("mxd: --metrics-listen: '127.0.0.1:99999': port 99999 is out of range", 0), 0u)
      << metrics.output;
  auto from_env =
      RunMxdBounded({"--metrics-listen", "0"}, {"MX_LISTEN=127.0.0.1:70000"});
  ASSERT_TRUE(from_env.exited) << from_env.output;
  EXPECT_EQ(from_env.exit_code, 2);
  EXPECT_EQ(from_env.output.rfind("mxd: MX_LISTEN: '127.0.0.1:70000'", 0), 0u) << from_env.output;
}

TEST(ErrorMessageTest, ErrorsNameTheFlagOrTheVariableTheyCameFromAndTheOsReason) {
  auto flag = RunMxdBounded({"--store", "redis", "--redis-url", "redis://127.0.0.1:1/x"});
  ASSERT_TRUE(flag.exited);
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_EQ(flag.output, "mxd: --redis-url: bad db index 'x'\n");
  auto env = RunMxdBounded({"--store", "redis"}, {"REDIS_URL=redis://127.0.0.1:1/x"});
  ASSERT_TRUE(env.exited);
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_EQ(env.output, "mxd: REDIS_URL: bad db index 'x'\n");
  auto secret = RunMxdBounded({"--redis-password-file", "/nonexistent/mx-password"});
  ASSERT_TRUE(secret.exited);
  EXPECT_EQ(secret.exit_code, 2);
  EXPECT_NE(secret.output.find("--redis-password-file: cannot read file /nonexistent/mx-password: "
                               "No such file or directory"),
            std::string::npos)
      << secret.output;
  auto token = RunProcess(BinaryPath("mxctl"), {"--token-file", "/nonexistent/tok", "health"});
  EXPECT_EQ(token.exit_code, 2);
  EXPECT_NE(token.err.find("/nonexistent/tok: No such file or directory"), std::string::npos)
      << token.err;
}

TEST(VersionTest, BothBinariesPrintVersionCommitAndBuildType) {
  const std::regex line(
      "^(mxd|mxctl) [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit ([0-9a-f]{12}|unknown), [A-Za-z]+\\)\n$");
  for (const std::string name : {"mxd", "mxctl"}) {
    auto run = RunProcess(BinaryPath(name), {"--version"});
    EXPECT_EQ(run.exit_code, 0) << name << ": " << run.err;
    EXPECT_TRUE(std::regex_match(run.out, line)) << name << ": '" << run.out << "'";
    EXPECT_EQ(run.out.rfind(name + " ", 0), 0u) << run.out;
    EXPECT_TRUE(run.err.empty()) << run.err;
  }
  EXPECT_NE(RunProcess(BinaryPath("mxd"), {"--help"}).out.find("--version"), std::string::npos);
  EXPECT_NE(RunProcess(BinaryPath("mxctl"), {"--help"}).out.find("--version"), std::string::npos);
}

class MxctlListStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    client_ = MakeClient(server_->port());
    ASSERT_NE(client_, nullptr);
  }
  ProcessResult Mxctl(std::vector<std::string> args) {
    args.insert(args.begin(), "--server=127.0.0.1:" + std::to_string(server_->port()));
    return RunProcess(BinaryPath("mxctl"), args);
  }
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<Client> client_;
};

// The STATUS cell of `worker`'s row in mxctl's table.
std::string StatusCell(const std::string& table, const std::string& worker) {
  std::istringstream lines(table);
  std::string header, line;
  std::getline(lines, header);
  const size_t column = header.find("STATUS");
  if (column == std::string::npos) return "(no STATUS column)";
  while (std::getline(lines, line)) {
    if (line.find(" " + worker + " ") == std::string::npos) continue;
    const size_t end = line.find(' ', column);
    return line.substr(column, end == std::string::npos ? std::string::npos : end - column);
  }
  return "(no row)";
}

TEST_F(MxctlListStatusTest, ListShowsEachWorkersStatusInTheTableAndInJson) {
  auto ready = MakeRequest("m", "w-ready", 0);
  ready.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  auto stale = MakeRequest("m", "w-stale", 1);
  stale.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  auto starting = MakeRequest("m", "w-init", 2);
  starting.mutable_worker()->set_status(p2p::SOURCE_STATUS_INITIALIZING);
  ASSERT_TRUE(client_->Publish(ready).ok());
  ASSERT_TRUE(client_->Publish(stale).ok());
  ASSERT_TRUE(client_->Publish(starting).ok());
  const std::string id = ComputeSourceId(ready.identity());
  ASSERT_TRUE(client_->UpdateStatus(id, "w-stale", 1, p2p::SOURCE_STATUS_STALE).ok());

  auto table = Mxctl({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(StatusCell(table.out, "w-ready"), "READY") << table.out;
  EXPECT_EQ(StatusCell(table.out, "w-stale"), "STALE") << table.out;
  EXPECT_EQ(StatusCell(table.out, "w-init"), "INITIALIZING") << table.out;

  auto filtered = Mxctl({"list", "--status", "stale"});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_EQ(StatusCell(filtered.out, "w-stale"), "STALE") << filtered.out;
  EXPECT_EQ(StatusCell(filtered.out, "w-ready"), "(no row)") << filtered.out;

  auto as_json = Mxctl({"list", "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  std::map<std::string, std::string> status;
  const json listed = json::parse(as_json.out);
  for (const auto& instance : listed["instances"]) {
    status[instance["worker_id"].get<std::string>()] = instance["status"].get<std::string>();
  }
  EXPECT_EQ(status, (std::map<std::string, std::string>{
                        {"w-ready", "READY"}, {"w-stale", "STALE"}, {"w-init", "INITIALIZING"}}));
}

TEST_F(MxctlListStatusTest, TheReadmeExampleWorkerFilePublishesAndListsAsReady) {
  const std::string readme = ReadSource("README.md");
  EXPECT_NE(readme.find("mxctl publish --file docs/examples/worker.json"), std::string::npos);
  auto published = Mxctl({"publish", "--json", "--file",
                          std::string(MX_SOURCE_DIR) + "/docs/examples/worker.json"});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  // The README's grpcurl session shows this id for the same identity.
  EXPECT_EQ(json::parse(published.out)["mx_source_id"], "5a5f555570065064");
  EXPECT_NE(readme.find("5a5f555570065064"), std::string::npos);
  auto listed = Mxctl({"list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(StatusCell(listed.out, "pod-a-gpu0"), "READY") << listed.out;
}

}  // namespace
}  // namespace mx::testing
