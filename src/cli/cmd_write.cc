// mxctl publish and mxctl status: the two calls that change records.
#include <ostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/identity_input.h"
#include "cli/proto_json.h"

namespace mx::cli {
namespace {

int RunPublish(const Context& ctx) {
  if (!ctx.args.positionals.empty()) return ctx.Usage("publish takes no arguments; use --file");
  std::string text;
  if (auto s = ReadInput(ctx.args.Get("file", "-"), ctx.io.in, &text); !s.ok()) {
    return ctx.Usage(std::string(s.message()));
  }
  p2p::PublishMetadataRequest request;
  if (auto s = FromJson(text, &request); !s.ok()) return ctx.Usage(std::string(s.message()));
  auto client = ctx.connect();
  if (!client.ok()) return ctx.Fail(client.status());
  auto source_id = (*client)->Publish(request);
  if (!source_id.ok()) return ctx.Fail(source_id.status());
  if (ctx.json) {
    p2p::PublishMetadataResponse response;
    response.set_success(true);
    response.set_message("published");
    response.set_mx_source_id(*source_id);
    response.set_worker_id(request.worker_id());
    ctx.io.out << ToJson(response) << "\n";
  } else {
    ctx.io.out << "published worker " << request.worker_id() << " as source " << *source_id
               << "\n";
  }
  return 0;
}

int RunStatus(const Context& ctx) {
  const auto& pos = ctx.args.positionals;
  if (pos.size() != 3) return ctx.Usage("status needs MX_SOURCE_ID WORKER_ID STATUS");
  auto status = ParseStatus(pos[2]);
  if (!status.ok()) return ctx.Usage(std::string(status.status().message()));
  auto rank = ParseUnsigned("--rank", ctx.args.Get("rank", "0"), UINT32_MAX);
  if (!rank.ok()) return ctx.Usage(std::string(rank.status().message()));
  float load = 0;
  if (ctx.args.Has("load") &&
      (!absl::SimpleAtof(ctx.args.Get("load"), &load) || !(load >= 0 && load <= 1))) {
    return ctx.Usage("--load must be a number from 0 to 1, got '" + ctx.args.Get("load") + "'");
  }
  auto client = ctx.connect();
  if (!client.ok()) return ctx.Fail(client.status());
  if (auto s =
          (*client)->UpdateStatus(pos[0], pos[1], static_cast<uint32_t>(*rank), *status, load);
      !s.ok()) {
    return ctx.Fail(s);
  }
  if (ctx.json) {
    p2p::UpdateStatusResponse response;
    response.set_success(true);
    response.set_message("updated");
    ctx.io.out << ToJson(response) << "\n";
  } else {
    ctx.io.out << "worker " << pos[1] << " is " << ShortStatusName(*status) << "\n";
  }
  return 0;
}

}  // namespace

Command PublishCommand() {
  Command command;
  command.name = "publish";
  command.summary = "publish (upsert) one worker from JSON (PublishMetadata)";
  command.usage = "[--file FILE]";
  command.details =
      "The input is a PublishMetadataRequest in the proto3 JSON mapping, e.g.\n"
      "  {\"identity\": {\"mx_version\": \"0.5.0\", \"model_name\": \"org/model\",\n"
      "                \"backend_framework\": \"BACKEND_FRAMEWORK_VLLM\", \"tensor_parallel_size\": 8,\n"
      "                \"dtype\": \"bfloat16\"},\n"
      "   \"worker_id\": \"pod-a-gpu0\",\n"
      "   \"worker\": {\"worker_rank\": 0, \"status\": \"SOURCE_STATUS_READY\",\n"
      "              \"transfer_engine_session_id\": \"10.0.0.5:17000\", \"accelerator\": \"H100\",\n"
      "              \"tensor_source\": {\"tensors\": [{\"name\": \"w\", \"addr\": \"140000000000\",\n"
      "                                              \"size\": \"4096\", \"dtype\": \"bfloat16\"}]}}}\n"
      "Field names may be snake_case or lowerCamelCase, enums names or numbers, 64-bit\n"
      "integers strings or numbers. Prints the mx_source_id.\n";
  command.flags = {{"file", "FILE", "read the JSON from FILE (default \"-\", stdin)"}};
  command.run = RunPublish;
  return command;
}

Command StatusCommand() {
  Command command;
  command.name = "status";
  command.summary = "set a worker's status and refresh its heartbeat (UpdateStatus)";
  command.usage = "MX_SOURCE_ID WORKER_ID initializing|ready|stale [--rank N] [--load F]";
  command.details = "Exit code 1 with NOT_FOUND when the worker does not exist.\n";
  command.flags = {{"rank", "N", "the worker's rank (default 0)"},
                   {"load", "F", "the source's load from 0 to 1, as a heartbeat reports it"}};
  command.run = RunStatus;
  return command;
}

}  // namespace mx::cli
