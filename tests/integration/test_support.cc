#include "test_support.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "integration/port_reservation.h"
#include "store/memory/memory_store.h"

extern char** environ;

namespace mx::testing {

int FreePort() { return ReserveLoopbackPort(); }

std::unique_ptr<server::Server> StartServer(int port, std::chrono::seconds heartbeat_timeout,
                                            std::chrono::seconds scan_interval,
                                            std::unique_ptr<store::Store> store) {
  server::ServerConfig config;
  config.listen = "127.0.0.1:" + std::to_string(port);
  config.reaper.heartbeat_timeout = heartbeat_timeout;
  config.reaper.scan_interval = scan_interval;
  config.shutdown_grace = std::chrono::seconds(1);
  config.reflection = false;
  config.metrics_listen = "";  // 9401 would be taken by the first server
  if (!store) store = std::make_unique<store::MemoryStore>();
  auto server = server::Server::Start(config, std::move(store));
  if (!server.ok()) {
    ADD_FAILURE() << "cannot start mxd: " << server.status();
    return nullptr;
  }
  return *std::move(server);
}

std::shared_ptr<Client> MakeClient(int port, ClientOptions options) {
  options.address = "127.0.0.1:" + std::to_string(port);
  auto client = Client::Create(options);
  if (!client.ok()) {
    ADD_FAILURE() << client.status();
    return nullptr;
  }
  return std::shared_ptr<Client>(std::move(*client));
}

namespace {

std::vector<char*> Argv(const std::string& path, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string TempPath(const std::string& tag) {
  static int counter = 0;
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/mx_test_" + std::to_string(getpid()) + "_" +
         std::to_string(++counter) + "_" + tag;
}

}  // namespace

ProcessResult RunProcess(const std::string& path, const std::vector<std::string>& args,
                         const std::string& input, const std::map<std::string, std::string>& env) {
  const std::string in_path = TempPath("in"), out_path = TempPath("out"), err_path = TempPath("err");
  std::ofstream(in_path, std::ios::binary) << input;
  auto argv = Argv(path, args);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    dup2(open(in_path.c_str(), O_RDONLY), 0);
    dup2(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    dup2(open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ProcessResult result;
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadAll(out_path);
  result.err = ReadAll(err_path);
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return result;
}

model_express::p2p::PublishMetadataRequest MakeRequest(const std::string& model,
                                                       const std::string& worker_id, uint32_t rank,
                                                       const std::string& accelerator) {
  model_express::p2p::PublishMetadataRequest request;
  request.mutable_identity()->set_mx_version("0.5.0");
  request.mutable_identity()->set_model_name(model);
  request.mutable_identity()->set_backend_framework(model_express::p2p::BACKEND_FRAMEWORK_VLLM);
  request.mutable_identity()->set_tensor_parallel_size(2);
  request.mutable_identity()->set_dtype("bfloat16");
  request.set_worker_id(worker_id);
  auto* worker = request.mutable_worker();
  worker->set_worker_rank(rank);
  worker->set_accelerator(accelerator);
  worker->set_transfer_engine_session_id("127.0.0.1:17000");
  for (int i = 0; i < 2; ++i) {
    auto* t = worker->mutable_tensor_source()->add_tensors();
    t->set_name("layer." + std::to_string(i) + ".weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 4096);
    t->set_size(4096);
    t->set_dtype("bfloat16");
  }
  return request;
}

}  // namespace mx::testing
