#include "cli/grpc_conn.h"

#include <chrono>

#include "client/channel.h"

namespace mx::cli {

std::unique_ptr<grpc::ClientContext> Conn::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + options.deadline);
  if (!options.bearer_token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + options.bearer_token);
  }
  return ctx;
}

absl::StatusOr<Conn> Connect(const Context& ctx) {
  auto client = ctx.connect();
  if (!client.ok()) return client.status();
  Conn conn{nullptr, (*client)->options()};
  auto channel = mx::client::MakeChannel(conn.options);
  if (!channel.ok()) return channel.status();
  conn.channel = *std::move(channel);
  return conn;
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace mx::cli
