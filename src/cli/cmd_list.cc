// mxctl list: ListSources with every filter.
#include <functional>
#include <map>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/identity_input.h"
#include "cli/list_status.h"
#include "cli/proto_json.h"
#include "cli/table.h"
#include "nlohmann/json.hpp"

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
  auto workers = ListWithStatus(**client, filter);
  if (!workers.ok()) return ctx.Fail(workers.status());

  if (ctx.json) {
    // The reply's proto3 JSON, plus each instance's "status".
    nlohmann::ordered_json instances = nlohmann::ordered_json::array();
    for (const auto& w : *workers) {
      nlohmann::ordered_json instance = nlohmann::ordered_json::parse(ToJson(w.ref));
      instance["status"] = w.status;
      instances.push_back(std::move(instance));
    }
    ctx.io.out << nlohmann::ordered_json{{"instances", std::move(instances)}}.dump() << "\n";
    return 0;
  }
  // One entry per column; a new column is one more line here.
  const std::vector<std::pair<std::string, std::function<std::string(const ListedWorker&)>>>
      columns = {
          {"MX_SOURCE_ID", [](const ListedWorker& w) { return w.ref.mx_source_id(); }},
          {"WORKER_ID", [](const ListedWorker& w) { return w.ref.worker_id(); }},
          {"MODEL", [](const ListedWorker& w) { return w.ref.model_name(); }},
          {"RANK", [](const ListedWorker& w) { return std::to_string(w.ref.worker_rank()); }},
          {"STATUS", [](const ListedWorker& w) { return w.status; }},
          {"ACCELERATOR",
           [](const ListedWorker& w) {
             return w.ref.accelerator().empty() ? std::string("-") : w.ref.accelerator();
           }},
          {"UPDATED", [](const ListedWorker& w) { return Age(w.ref.updated_at()); }},
          {"STEP",
           [](const ListedWorker& w) {
             return w.ref.has_training_step() ? std::to_string(w.ref.training_step())
                                              : std::string("-");
           }},
          {"LOAD", [](const ListedWorker& w) { return LoadCell(w.ref.source_load()); }},
          {"TOPOLOGY", [](const ListedWorker& w) { return TopologyCell(w.ref.topology()); }},
      };
  std::vector<std::string> header;
  for (const auto& column : columns) header.push_back(column.first);
  std::vector<std::vector<std::string>> rows;
  for (const auto& w : *workers) {
    std::vector<std::string> row;
    for (const auto& column : columns) row.push_back(column.second(w));
    rows.push_back(std::move(row));
  }
  ctx.io.out << RenderTable(header, rows);
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
      "server's heartbeat timeout.\n"
      "STATUS (and \"status\" in --json) comes from one listing per status value,\n"
      "so it works with any ModelExpress server; '-' marks a worker no filtered\n"
      "listing returned (READY but past the heartbeat timeout, not yet STALE).\n";
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
