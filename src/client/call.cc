#include "client/call.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/backoff.h"

namespace mx::client {
namespace {

using Clock = std::chrono::steady_clock;

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

absl::Status FromGrpc(const grpc::Status& status, const std::string& method,
                      const std::string& address) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering.
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  return absl::Status(code, absl::StrCat(method, " to ", address, ": ", status.error_message()));
}

absl::Status RunCall(const ClientOptions& options, const CallOptions& call,
                     const std::string& method, const Attempt& attempt) {
  const auto budget = call.deadline.value_or(options.deadline);
  const int max_attempts = std::max(1, call.max_attempts.value_or(options.retry.max_attempts));
  const auto start = Clock::now();
  const auto deadline = start + budget;
  Backoff backoff(options.retry.initial_backoff, options.retry.max_backoff,
                  options.retry.multiplier, options.retry.jitter);
  const std::string address = options.channel ? "in-process channel" : options.address;

  grpc::Status status;
  for (int i = 1;; ++i) {
    const auto now = Clock::now();
    auto attempt_budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (options.attempt_deadline.count() > 0) {
      attempt_budget = std::min(attempt_budget, options.attempt_deadline);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + attempt_budget);
    context.set_wait_for_ready(false);  // a dead server fails the call, not hangs it
    if (!options.bearer_token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", options.bearer_token));
    }
    status = attempt(&context);
    if (status.ok() || !Retryable(status.error_code()) || i >= max_attempts) break;
    const auto sleep = backoff.Next();
    if (Clock::now() + sleep >= deadline) break;
    std::this_thread::sleep_for(sleep);
  }
  absl::Status result = FromGrpc(status, method, address);
  if (!result.ok() && Clock::now() >= deadline &&
      result.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(
        absl::StrCat(result.message(), " (call deadline ",
                     std::chrono::duration_cast<std::chrono::milliseconds>(budget).count(),
                     " ms)"));
  }
  return result;
}

}  // namespace mx::client
