// The Lua scripts of layout version 1. Each write is one script, so Redis
// runs it as one atomic step: no client ever sees half of a publish, and
// the indexes change in the same step as the records they index. Reads
// use MULTI/EXEC instead: large values and long listings are much cheaper
// outside Lua.
// Scripts report outcomes as an array whose first element is a code:
// "ok", "notfound", "denied" (owner mismatch) or "changed" (lost a
// compare-and-set). State strings are "<status>:<unix ms>", stamped from
// the Redis server's TIME so every mxd replica shares one clock.
#ifndef MX_STORE_REDIS_REDIS_SCRIPTS_H_
#define MX_STORE_REDIS_REDIS_SCRIPTS_H_

#include <string>
#include "absl/strings/string_view.h"

namespace mx::store::redis {

struct Script {
  absl::string_view name;
  absl::string_view body;
  std::string sha1;  // hex, for EVALSHA
};

// Per-source hash fields: "m:<worker id>" holds the summary, "t:<worker
// id>" the state (kSummaryField / kStateField in redis_keys.h).
//
// KEYS: worker, record, staged record, source, sources, model counts.
// ARGV: esc source, worker id, summary, owner, rank, status,
//       owner-required flag ("1"/"0"), required owner.
// "nostage" when the staged record is gone (expired: retry).
const Script& PublishScript();
// KEYS: worker, source. ARGV: worker id, status, rank or "", owner-required
//       flag, required owner, expected state or "".
const Script& UpdateStatusScript();
// KEYS: worker, record, source, sources.
// ARGV: esc source, worker id, expected state or "".
const Script& RemoveScript();

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_SCRIPTS_H_
