// mxctl refit: the RefitService state of an mxd (versions, shards, leases,
// workers). Reads only: GetWeightVersion, ListWeightVersionShards and mxd's
// own RefitInspect.Snapshot.
#include <chrono>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/proto_json.h"
#include "cli/table.h"
#include "cli/grpc_conn.h"
#include "refit.grpc.pb.h"
#include "refit_inspect.grpc.pb.h"

namespace mx::cli {
namespace {

namespace pb = model_express::refit;

std::string StateName(pb::WeightVersionState state) {
  switch (state) {
    case pb::WEIGHT_VERSION_STATE_STAGING: return "STAGING";
    case pb::WEIGHT_VERSION_STATE_READY: return "READY";
    case pb::WEIGHT_VERSION_STATE_RELEASING: return "RELEASING";
    default: return "UNSPECIFIED";
  }
}

std::string RoleName(pb::WorkerRole role) {
  switch (role) {
    case pb::WORKER_ROLE_TRAINER: return "trainer";
    case pb::WORKER_ROLE_GENERATOR: return "generator";
    default: return "unspecified";
  }
}

// "in 42s" for an expiry in unix ms.
std::string Expires(uint64_t at_ms) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t left = (static_cast<int64_t>(at_ms) - now) / 1000;
  return left <= 0 ? "expired" : absl::StrCat("in ", left, "s");
}

absl::StatusOr<mxd::refit::RefitSnapshotResponse> Snapshot(const Conn& conn) {
  auto stub = mxd::refit::RefitInspect::NewStub(conn.channel);
  mxd::refit::RefitSnapshotResponse out;
  if (absl::Status s = FromGrpc(stub->Snapshot(conn.Context().get(), {}, &out)); !s.ok()) return s;
  return out;
}

void PrintVersion(const pb::WeightVersion& v, std::ostream& out) {
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"uid", v.uid()},
      {"model", v.model_name()},
      {"version_number", v.has_version_number() ? std::to_string(v.version_number()) : "-"},
      {"idempotency_key", v.idempotency_key()},
      {"payload_format", v.payload_format() == pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA ? "XOR_DELTA"
                                                                                : "FULL_TENSOR"},
      {"base_version_id", v.has_base_version_id() ? v.base_version_id() : "-"},
      {"state", StateName(v.state())},
      {"created_at", absl::StrCat(v.created_at_unix_ms(), " (", Age(v.created_at_unix_ms()), ")")},
      {"expected_slots", absl::StrJoin(v.expected_source_slots(), ",")}};
  for (const auto& [k, value] : lines) {
    out << k << ":" << std::string(k.size() < 18 ? 18 - k.size() : 1, ' ') << value << "\n";
  }
}

int RunRefit(const Context& ctx) {
  const auto& pos = ctx.args.positionals;
  if (pos.empty()) return ctx.Usage("refit needs versions, version UID, shards UID, leases or workers");
  const std::string& what = pos[0];
  const bool needs_uid = what == "version" || what == "shards";
  const bool listing = what == "versions" || what == "leases" || what == "workers";
  if (!needs_uid && !listing) return ctx.Usage("unknown refit subcommand '" + what + "'");
  if (pos.size() != (needs_uid ? 2u : 1u)) {
    return ctx.Usage(needs_uid ? "refit " + what + " needs UID" : "refit " + what + " takes no argument");
  }
  auto conn = Connect(ctx);
  if (!conn.ok()) return ctx.Fail(conn.status());
  auto& out = ctx.io.out;
  if (what == "version") {
    pb::GetWeightVersionRequest r;
    r.set_uid(pos[1]);
    pb::WeightVersion v;
    auto stub = pb::RefitService::NewStub(conn->channel);
    if (absl::Status s = FromGrpc(stub->GetWeightVersion(conn->Context().get(), r, &v)); !s.ok()) {
      return ctx.Fail(s);
    }
    if (ctx.json) {
      out << ToJson(v) << "\n";
    } else {
      PrintVersion(v, out);
    }
    return 0;
  }
  if (what == "shards") {
    pb::ListWeightVersionShardsRequest r;
    r.set_version_id(pos[1]);
    pb::ListWeightVersionShardsResponse shards;
    auto stub = pb::RefitService::NewStub(conn->channel);
    if (absl::Status s = FromGrpc(stub->ListWeightVersionShards(conn->Context().get(), r, &shards));
        !s.ok()) {
      return ctx.Fail(s);
    }
    if (ctx.json) {
      out << ToJson(shards) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : shards.shards()) {
      rows.push_back({s.source_slot_id(), s.worker_id(), std::to_string(s.tensor_count()),
                      std::to_string(s.total_bytes()), s.manifest_endpoint(), s.transport(),
                      s.manifest_digest()});
    }
    out << RenderTable({"SLOT", "WORKER", "TENSORS", "BYTES", "ENDPOINT", "TRANSPORT", "DIGEST"},
                       rows);
    return 0;
  }
  auto snapshot = Snapshot(*conn);
  if (!snapshot.ok()) return ctx.Fail(snapshot.status());
  std::vector<std::vector<std::string>> rows;
  if (what == "versions") {
    if (ctx.json) {
      for (const auto& v : snapshot->versions()) out << ToJson(v) << "\n";
      return 0;
    }
    for (const auto& v : snapshot->versions()) {
      rows.push_back({v.uid(), v.model_name(),
                      v.has_version_number() ? std::to_string(v.version_number()) : "-",
                      StateName(v.state()), std::to_string(v.expected_source_slots_size()),
                      Age(v.created_at_unix_ms())});
    }
    out << RenderTable({"UID", "MODEL", "NUMBER", "STATE", "SLOTS", "CREATED"}, rows);
  } else if (what == "leases") {
    if (ctx.json) {
      for (const auto& l : snapshot->leases()) out << ToJson(l) << "\n";
      return 0;
    }
    for (const auto& l : snapshot->leases()) {
      rows.push_back({l.lease_id(), l.version_id(), l.worker_id(), Expires(l.expires_at_unix_ms())});
    }
    out << RenderTable({"LEASE", "VERSION", "WORKER", "EXPIRES"}, rows);
  } else {
    if (ctx.json) {
      for (const auto& w : snapshot->workers()) out << ToJson(w) << "\n";
      return 0;
    }
    for (const auto& w : snapshot->workers()) {
      rows.push_back({w.worker_id(), RoleName(w.role()), w.model_name(),
                      Expires(w.expires_at_unix_ms())});
    }
    out << RenderTable({"WORKER", "ROLE", "MODEL", "EXPIRES"}, rows);
  }
  return 0;
}

}  // namespace

Command RefitCommand() {
  Command command;
  command.name = "refit";
  command.summary = "show RefitService state: versions, shards, leases, workers";
  command.usage = "versions | version UID | shards UID | leases | workers";
  command.details =
      "versions: every weight version (oldest first); version UID: one version;\n"
      "shards UID: the version's publications by (slot, worker); leases: live leases;\n"
      "workers: live registrations. --json prints one object per line.\n";
  command.run = RunRefit;
  return command;
}

}  // namespace mx::cli
