#include "ops_fixture.h"

#include <cstdlib>
#include <fstream>
#include <thread>

#include <httplib.h>

namespace mx::testing {

model_express::p2p::PublishMetadataRequest MakePublish(const std::string& model,
                                                       const std::string& worker_id,
                                                       uint32_t rank) {
  model_express::p2p::PublishMetadataRequest r;
  r.mutable_identity()->set_model_name(model);
  r.mutable_identity()->set_mx_version("0.3.0");
  r.mutable_identity()->set_tensor_parallel_size(1);
  r.set_worker_id(worker_id);
  auto* w = r.mutable_worker();
  w->set_worker_rank(rank);
  w->set_nixl_metadata("agent-blob");
  auto* t = w->mutable_tensor_source()->add_tensors();
  t->set_name("layer.0.weight");
  t->set_addr(4096);
  t->set_size(1024);
  t->set_dtype("bfloat16");
  return r;
}

HttpReply HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(5));
  auto res = client.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body};
}

bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string NewTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/mx-ops-XXXXXX";
  char* made = mkdtemp(templ.data());
  return made ? std::string(made) : std::string();
}

bool RunShell(const std::string& command) { return std::system(command.c_str()) == 0; }

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

}  // namespace mx::testing
