// Helpers for tests that run a real mxd in-process on loopback ports.
#ifndef MX_TESTS_SUPPORT_OPS_FIXTURE_H_
#define MX_TESTS_SUPPORT_OPS_FIXTURE_H_

#include <chrono>
#include <functional>
#include <string>

#include "p2p.pb.h"

namespace mx::testing {

// A PublishMetadata request that passes validation.
model_express::p2p::PublishMetadataRequest MakePublish(const std::string& model,
                                                       const std::string& worker_id,
                                                       uint32_t rank = 0);

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};
HttpReply HttpGet(int port, const std::string& path);

// Polls `condition` until true or `timeout`; returns the last result.
bool PollUntil(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A fresh directory under TMPDIR, removed by the caller (or left for CI).
std::string NewTempDir();

// Runs a shell command; true on exit status 0.
bool RunShell(const std::string& command);

void WriteFile(const std::string& path, const std::string& text);

}  // namespace mx::testing

#endif  // MX_TESTS_SUPPORT_OPS_FIXTURE_H_
