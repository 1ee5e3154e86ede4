// mxctl hash (computed locally) and mxctl health (grpc.health.v1).
#include <ostream>

#include "cli/command.h"
#include "cli/identity_input.h"
#include "common/json_text.h"

namespace mx::cli {
namespace {

int RunHash(const Context& ctx) {
  if (!ctx.args.positionals.empty()) return ctx.Usage("hash takes no arguments");
  if (!HasIdentityInput(ctx.args)) return ctx.Usage("hash needs identity flags or --identity");
  auto identity = IdentityFromArgs(ctx.args, ctx.io.in);
  if (!identity.ok()) return ctx.Usage(std::string(identity.status().message()));
  if (identity->model_name().empty()) return ctx.Usage("identity.model_name is required");
  const std::string id = ComputeSourceId(*identity);
  const std::string canonical = CanonicalIdentityJson(*identity);
  if (ctx.json) {
    std::string out = "{\"mx_source_id\":";
    AppendJsonString(id, &out);
    out += ",\"canonical_json\":";
    AppendJsonString(canonical, &out);
    ctx.io.out << out << "}\n";
  } else if (ctx.args.Has("canonical")) {
    ctx.io.out << id << "  " << canonical << "\n";
  } else {
    ctx.io.out << id << "\n";
  }
  return 0;
}

int RunHealth(const Context& ctx) {
  if (!ctx.args.positionals.empty()) return ctx.Usage("health takes no arguments");
  auto client = ctx.connect();
  if (!client.ok()) return ctx.Fail(client.status());
  auto health = (*client)->CheckHealth(ctx.args.Get("service", ""));
  if (!health.ok()) return ctx.Fail(health.status());
  if (ctx.json) {
    ctx.io.out << "{\"status\":\"" << HealthStatusName(*health) << "\"}\n";
  } else {
    ctx.io.out << HealthStatusName(*health) << "\n";
  }
  return *health == HealthStatus::kServing ? 0 : kExitFailure;
}

}  // namespace

Command HashCommand() {
  Command command;
  command.name = "hash";
  command.summary = "compute an identity's mx_source_id locally (no server)";
  command.usage = "identity flags | --identity FILE";
  command.details =
      "Example: mxctl hash --mx-version 0.5.0 --model deepseek-ai/DeepSeek-V3 \\\n"
      "           --framework vllm --tp 8 --pp 1 --dtype bfloat16   # 5a5f555570065064\n";
  command.flags = {{"canonical", "", "also print the canonical JSON that is hashed"}};
  for (const auto& flag : IdentityFlags()) command.flags.push_back(flag);
  command.run = RunHash;
  return command;
}

Command HealthCommand() {
  Command command;
  command.name = "health";
  command.summary = "ask the server's grpc.health.v1 service";
  command.usage = "[--service NAME]";
  command.details =
      "Prints SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN; exit code 0 only for\n"
      "SERVING. \"\" (default) is the whole server; model_express.p2p.P2pService also works.\n";
  command.flags = {{"service", "NAME", "service to ask about (default \"\")"}};
  command.run = RunHealth;
  return command;
}

}  // namespace mx::cli
