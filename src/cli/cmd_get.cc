// mxctl get: one worker's full record (GetMetadata).
#include <ostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/identity_input.h"
#include "cli/proto_json.h"
#include "cli/table.h"
#include "mx/find_source.h"

namespace mx::cli {
namespace {

void Line(std::ostream& out, const std::string& key, const std::string& value) {
  out << key << ":" << std::string(key.size() < 22 ? 22 - key.size() : 1, ' ') << value << "\n";
}

void PrintHuman(const p2p::GetMetadataResponse& response, uint64_t max_rows, std::ostream& out) {
  const p2p::WorkerMetadata& worker = response.worker();
  Line(out, "mx_source_id", response.mx_source_id());
  Line(out, "worker_id", response.worker_id());
  Line(out, "model", response.identity().model_name());
  Line(out, "worker_rank", std::to_string(worker.worker_rank()));
  Line(out, "status", ShortStatusName(worker.status()));
  Line(out, "updated_at", absl::StrCat(worker.updated_at(), " (", Age(worker.updated_at()), ")"));
  Line(out, "accelerator", worker.accelerator().empty() ? "-" : worker.accelerator());
  if (worker.has_transfer_engine_session_id()) {
    Line(out, "transfer_engine_session", worker.transfer_engine_session_id());
  } else if (worker.has_nixl_metadata()) {
    Line(out, "nixl_metadata", absl::StrCat(worker.nixl_metadata().size(), " bytes"));
  }
  if (!worker.metadata_endpoint().empty()) Line(out, "metadata_endpoint", worker.metadata_endpoint());
  if (!worker.agent_name().empty()) Line(out, "agent_name", worker.agent_name());
  if (!worker.worker_grpc_endpoint().empty()) {
    Line(out, "worker_grpc_endpoint", worker.worker_grpc_endpoint());
  }
  if (worker.has_artifact_source()) {
    const auto& a = worker.artifact_source();
    Line(out, "artifact", absl::StrCat(a.artifact_id(), " (", a.total_size(), " bytes, ",
                                       a.file_count(), " files, ", a.chunk_count(),
                                       " chunks, node_rank ", a.node_rank(), ")"));
    return;
  }
  const auto& tensors = WorkerTensors(worker);
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.size();
  Line(out, "tensors", absl::StrCat(tensors.size(), " (", total, " bytes)"));
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tensors) {
    if (rows.size() >= max_rows) break;
    rows.push_back({t.name(), t.dtype(), std::to_string(t.size()), std::to_string(t.device_id()),
                    absl::StrCat("0x", absl::Hex(t.addr()))});
  }
  if (!rows.empty()) {
    out << "\n" << RenderTable({"NAME", "DTYPE", "SIZE", "DEVICE", "ADDR"}, rows);
    if (static_cast<uint64_t>(tensors.size()) > max_rows) {
      out << "... " << tensors.size() - max_rows << " more (--max-tensors 0 shows all)\n";
    }
  }
}

int RunGet(const Context& ctx) {
  if (ctx.args.positionals.size() != 2) return ctx.Usage("get needs MX_SOURCE_ID WORKER_ID");
  uint64_t max_rows = 20;
  if (ctx.args.Has("max-tensors")) {
    auto n = ParseUnsigned("--max-tensors", ctx.args.Get("max-tensors"), UINT64_MAX);
    if (!n.ok()) return ctx.Usage(std::string(n.status().message()));
    max_rows = *n == 0 ? UINT64_MAX : *n;
  }
  auto client = ctx.connect();
  if (!client.ok()) return ctx.Fail(client.status());
  auto response = (*client)->GetMetadata(ctx.args.positionals[0], ctx.args.positionals[1]);
  if (!response.ok()) return ctx.Fail(response.status());
  if (ctx.json) {
    ctx.io.out << ToJson(*response) << "\n";
  } else {
    PrintHuman(*response, max_rows, ctx.io.out);
  }
  return 0;
}

}  // namespace

Command GetCommand() {
  Command command;
  command.name = "get";
  command.summary = "show one worker's full record (GetMetadata)";
  command.usage = "MX_SOURCE_ID WORKER_ID";
  command.details =
      "Exit code 1 with \"not found\" when the worker does not exist. --json prints the\n"
      "GetMetadataResponse with every tensor.\n";
  command.flags = {{"max-tensors", "N", "tensor rows in the human view (default 20, 0 = all)"}};
  command.run = RunGet;
  return command;
}

}  // namespace mx::cli
