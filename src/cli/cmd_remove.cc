// mxctl remove: mxd's admin removal (mxd.admin.v1.Admin), which deletes a
// worker record, or every worker of a source, without decoding it: the way
// to clear a poison record (docs/reliability.md).
#include <ostream>

#include "admin.grpc.pb.h"
#include "cli/command.h"
#include "cli/grpc_conn.h"
#include "cli/proto_json.h"

namespace mx::cli {
namespace {

namespace pb = mxd::admin::v1;

int RunRemove(const Context& ctx) {
  const auto& pos = ctx.args.positionals;
  if (pos.size() != 1 || pos[0].empty()) {
    return ctx.Usage("remove needs MX_SOURCE_ID (and --worker WORKER_ID for one worker)");
  }
  const bool one = ctx.args.Has("worker");
  if (one && ctx.args.Get("worker").empty()) return ctx.Usage("--worker: empty worker id");
  auto conn = Connect(ctx);
  if (!conn.ok()) return ctx.Fail(conn.status());
  auto stub = pb::Admin::NewStub(conn->channel);
  uint32_t removed = 0;
  if (one) {
    pb::RemoveWorkerRequest request;
    request.set_mx_source_id(pos[0]);
    request.set_worker_id(ctx.args.Get("worker"));
    pb::RemoveWorkerResponse response;
    absl::Status s = FromGrpc(stub->RemoveWorker(conn->Context().get(), request, &response));
    if (!s.ok()) return ctx.Fail(s);
    if (ctx.json) ctx.io.out << ToJson(response) << "\n";
    removed = response.workers_removed();
  } else {
    pb::RemoveSourceRequest request;
    request.set_mx_source_id(pos[0]);
    pb::RemoveSourceResponse response;
    absl::Status s = FromGrpc(stub->RemoveSource(conn->Context().get(), request, &response));
    if (!s.ok()) return ctx.Fail(s);
    if (ctx.json) ctx.io.out << ToJson(response) << "\n";
    removed = response.workers_removed();
  }
  if (!ctx.json) {
    ctx.io.out << "removed " << removed << (removed == 1 ? " worker" : " workers")
               << " of source " << pos[0] << "\n";
  }
  return 0;
}

}  // namespace

Command RemoveCommand() {
  Command command;
  command.name = "remove";
  command.summary = "delete a worker, or a whole source, even if undecodable (admin)";
  command.usage = "MX_SOURCE_ID [--worker WORKER_ID]";
  command.details =
      "Calls mxd.admin.v1.Admin/RemoveWorker (with --worker) or RemoveSource. The\n"
      "record is deleted by its key and never decoded, so a poison record that\n"
      "listings skip (mxd_store_corrupt_records_total) can be cleared. Needs the\n"
      "admin role when auth is on. Exit code 1 with NOT_FOUND when nothing matched.\n";
  command.flags = {{"worker", "WORKER_ID", "remove only this worker of the source"}};
  command.run = RunRemove;
  return command;
}

}  // namespace mx::cli
