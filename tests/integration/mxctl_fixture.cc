#include "mxctl_fixture.h"

#include <utility>

#include "store/memory/memory_store.h"

namespace mx::testing {

void MxctlFixture::StartMxd(server::ServerConfig config) {
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";  // 9401 would be taken by the first server
  config.shutdown_grace = std::chrono::seconds(1);
  auto server = server::Server::Start(config, std::make_unique<store::MemoryStore>());
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
}

ProcessResult MxctlFixture::Mxctl(std::vector<std::string> args, const std::string& input) const {
  if (!server_) return ProcessResult{-1, "", "mxd did not start", {}};
  std::vector<std::string> all = {"--server=127.0.0.1:" + std::to_string(server_->port())};
  all.insert(all.end(), global_flags_.begin(), global_flags_.end());
  all.insert(all.end(), args.begin(), args.end());
  return RunProcess(MXCTL_PATH, all, input);
}

}  // namespace mx::testing
