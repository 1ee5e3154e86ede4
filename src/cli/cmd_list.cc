// mxctl list: ListSources with every filter.
#include <map>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/identity_input.h"
#include "cli/proto_json.h"
#include "cli/table.h"

namespace mx::cli {
namespace {

// "0.42", or "-" when the source never reported a load.
std::string LoadCell(float load) {
  return load > 0 ? absl::StrFormat("%.2f", load) : std::string("-");
}

// "rack=r12,zone=us-east-1a" (domains sorted), or "-".
std::string TopologyCell(const google::protobuf::Map<std::string, std::string>& topology) {
  if (topology.empty()) return "-";
  const std::map<std::string, std::string> sorted(topology.begin(), topology.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

int RunList(const Context& ctx) {
  const ParsedArgs& args = ctx.args;
  if (!args.positionals.empty()) return ctx.Usage("list takes no arguments");
  ListFilter filter;
  if (HasIdentityInput(args)) {
    auto identity = IdentityFromArgs(args, ctx.io.in);
    if (!identity.ok()) return ctx.Usage(std::string(identity.status().message()));
    if (identity->model_name().empty()) {
      return ctx.Usage("an identity filter needs --model (or model_name in --identity)");
    }
    filter.identity = *identity;
  }
  if (args.Has("status")) {
    auto status = ParseStatus(args.Get("status"));
    if (!status.ok()) return ctx.Usage(std::string(status.status().message()));
    filter.status = *status;
  }
  if (args.Has("model-name")) filter.model_name = args.Get("model-name");
  if (args.Has("rank")) {
    auto n = ParseUnsigned("--rank", args.Get("rank"), UINT32_MAX);
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    filter.worker_rank = static_cast<uint32_t>(*n);
  }
  if (args.Has("min-training-step")) {
    auto n = ParseUnsigned("--min-training-step", args.Get("min-training-step"), UINT64_MAX);
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    filter.min_training_step = *n;
  }
  if (args.Has("min-updated-at")) {
    auto n = ParseSigned("--min-updated-at", args.Get("min-updated-at"));
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    filter.min_updated_at_ms = *n;
  }
  if (args.Has("limit")) {
    auto n = ParseUnsigned("--limit", args.Get("limit"), UINT32_MAX);
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    filter.limit = static_cast<uint32_t>(*n);
  }

  auto client = ctx.connect();
  if (!client.ok()) return ctx.Fail(client.status());
  auto refs = (*client)->ListSources(filter);
  if (!refs.ok()) return ctx.Fail(refs.status());

  if (ctx.json) {
    p2p::ListSourcesResponse response;
    for (const auto& ref : *refs) *response.add_instances() = ref;
    ctx.io.out << ToJson(response) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& ref : *refs) {
    rows.push_back({ref.mx_source_id(), ref.worker_id(), ref.model_name(),
                    std::to_string(ref.worker_rank()),
                    ref.accelerator().empty() ? "-" : ref.accelerator(), Age(ref.updated_at()),
                    ref.has_training_step() ? std::to_string(ref.training_step()) : "-",
                    LoadCell(ref.source_load()), TopologyCell(ref.topology())});
  }
  ctx.io.out << RenderTable({"MX_SOURCE_ID", "WORKER_ID", "MODEL", "RANK", "ACCELERATOR",
                             "UPDATED", "STEP", "LOAD", "TOPOLOGY"},
                            rows);
  return 0;
}

}  // namespace

Command ListCommand() {
  Command command;
  command.name = "list";
  command.summary = "list workers (ListSources), newest first with --limit";
  command.usage = "[filters] [identity flags]";
  command.details =
      "Identity flags (--model, --tp, ... or --identity FILE) restrict the listing to that\n"
      "identity's mx_source_id. --model-name filters on the model name alone.\n"
      "--status ready also hides READY workers whose heartbeat is older than the\n"
      "server's heartbeat timeout.\n";
  command.flags = {
      {"status", "S", "only workers in this status: initializing|ready|stale"},
      {"model-name", "NAME", "only workers of this model (any identity)"},
      {"rank", "N", "only workers with this worker_rank"},
      {"min-training-step", "N", "only workers whose training_step is at least N"},
      {"min-updated-at", "MS", "only workers updated at or after this unix time in ms"},
      {"limit", "N", "at most N workers, newest first"},
  };
  for (const auto& flag : IdentityFlags()) command.flags.push_back(flag);
  command.run = RunList;
  return command;
}

}  // namespace mx::cli
