// mxctl watch: WatchSources, one line per event until interrupted.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/command.h"
#include "cli/identity_input.h"
#include "cli/proto_json.h"

namespace mx::cli {
namespace {

namespace disc = ::mxd::discovery::v1;

std::string TypeName(disc::SourceEvent::Type type) {
  std::string name = disc::SourceEvent::Type_Name(type);
  return name.rfind("TYPE_", 0) == 0 ? name.substr(5) : name;
}

std::string HumanLine(const disc::SourceEvent& event) {
  const auto& ref = event.source();
  std::string line = absl::StrFormat("%-13s", TypeName(event.type()));
  if (event.has_source()) {
    absl::StrAppend(&line, " ", ref.mx_source_id(), " ", ref.worker_id(), " rank=",
                    ref.worker_rank(), " model=", ref.model_name(),
                    absl::StrFormat(" load=%.2f", ref.source_load()));
  }
  if (!event.reason().empty()) absl::StrAppend(&line, " reason=\"", event.reason(), "\"");
  if (!event.resume_token().empty()) absl::StrAppend(&line, " token=", event.resume_token());
  return line;
}

int RunWatch(const Context& ctx) {
  const ParsedArgs& args = ctx.args;
  if (!args.positionals.empty()) return ctx.Usage("watch takes no arguments");
  disc::WatchSourcesRequest request;
  auto* filter = request.mutable_filter();
  if (HasIdentityInput(args)) {
    auto identity = IdentityFromArgs(args, ctx.io.in);
    if (!identity.ok()) return ctx.Usage(std::string(identity.status().message()));
    if (identity->model_name().empty()) {
      return ctx.Usage("an identity filter needs --model (or model_name in --identity)");
    }
    *filter->mutable_identity() = *identity;
  }
  if (args.Has("status")) {
    auto status = ParseStatus(args.Get("status"));
    if (!status.ok()) return ctx.Usage(std::string(status.status().message()));
    filter->set_status_filter(*status);
  }
  if (args.Has("model-name")) filter->set_model_name_filter(args.Get("model-name"));
  if (args.Has("rank")) {
    auto n = ParseUnsigned("--rank", args.Get("rank"), UINT32_MAX);
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    filter->set_worker_rank_filter(static_cast<uint32_t>(*n));
  }
  if (args.Has("resume")) request.set_resume_token(args.Get("resume"));
  uint64_t count = 0;  // 0: until interrupted
  if (args.Has("count")) {
    auto n = ParseUnsigned("--count", args.Get("count"), UINT32_MAX);
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    count = *n;
  }
  const bool progress = args.Has("progress");

  auto client = ctx.connect();
  if (!client.ok()) return ctx.Fail(client.status());
  uint64_t printed = 0;
  CallOptions call;  // no deadline unless --timeout asks for one
  if (args.Has("timeout")) call.deadline = (*client)->options().deadline;
  absl::Status status = (*client)->WatchSources(
      request,
      [&](const disc::SourceEvent& event) {
        if (event.type() == disc::SourceEvent::TYPE_PROGRESS && !progress) return true;
        ctx.io.out << (ctx.json ? ToJson(event) : HumanLine(event)) << std::endl;
        ++printed;
        return count == 0 || printed < count;
      },
      call);
  if (!status.ok()) return ctx.Fail(status);
  return 0;
}

}  // namespace

Command WatchCommand() {
  Command command;
  command.name = "watch";
  command.summary = "follow workers as they appear, change and go (WatchSources)";
  command.usage = "[filters] [identity flags] [--resume TOKEN] [--count N]";
  command.details =
      "Prints the matching workers (SNAPSHOT lines, then SNAPSHOT_END), then one line per\n"
      "change: ADDED, CHANGED, REMOVED; RESET when --resume's token cannot be resumed\n"
      "(a fresh snapshot follows). Each line ends with the token to --resume from.\n"
      "--status ready also removes workers whose heartbeat times out. --json prints one\n"
      "SourceEvent per line. Needs an mxd (other servers answer UNIMPLEMENTED).\n";
  command.flags = {
      {"status", "S", "only workers in this status: initializing|ready|stale"},
      {"model-name", "NAME", "only workers of this model (any identity)"},
      {"rank", "N", "only workers with this worker_rank"},
      {"resume", "TOKEN", "continue after the event that carried TOKEN"},
      {"count", "N", "exit after printing N events"},
      {"progress", "", "also print PROGRESS events"},
  };
  for (const auto& flag : IdentityFlags()) command.flags.push_back(flag);
  command.run = RunWatch;
  return command;
}

}  // namespace mx::cli
