// The Lua scripts of the Redis refit store, one per mutating RefitService
// RPC (so each RPC is one atomic step, whichever mxd replica runs it) plus
// three read scripts that need a consistent view. Kept apart from the P2P
// scripts (redis_scripts.h). Every time is the Redis server's TIME in unix
// ms, so replicas share one clock.
//
// Layout under "<prefix>:refit:" (docs/refit.md):
//   v:<uid>        hash  rec (WeightVersion bytes, state/created cleared),
//                        state "1"|"2"|"3", model, fp (request bytes),
//                        created, nexp, released
//   v:<uid>:exp    set   expected slots      v:<uid>:cov  set  covered slots
//   v:<uid>:sh     hash  "<len(slot)>:<slot><worker>" -> shard bytes
//   v:<uid>:ls     hash  worker -> "<lease id>|<expiry ms>"
//   v:<uid>:lid    hash  "i:<id>" -> worker, "w:<worker>" -> id (never reused)
//   w:<worker>     hash  role, model, exp (PEXPIREAT exp)
//   r:<len(model)>:<model><key>  string uid (the exact idempotency pair)
//   versions zset uid by created; workers zset worker by expiry;
//   leases zset "<uid>:<worker>" by expiry
// Scripts answer an array whose first element is a code: "ok" or a failure
// word the store maps to a status.
#ifndef MX_STORE_REDIS_REFIT_REDIS_SCRIPTS_H_
#define MX_STORE_REDIS_REFIT_REDIS_SCRIPTS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace mx::store::redis {

struct RefitScript {
  absl::string_view name;
  std::string body;
  std::string sha1;  // hex, for EVALSHA
};

// KEYS: worker, workers. ARGV: role, model, ttl ms, worker id.
// -> ok expiry | exists
const RefitScript& RefitRegisterWorkerScript();
// KEYS: request, new version, its exp set, base version (or the new one),
//       versions. ARGV: uid, rec, model, "1" if XOR_DELTA, fp, version key
//       prefix, slot...  -> ok rec state created | exists | nobase |
//       basestate | collision
const RefitScript& RefitCreateVersionScript();
// KEYS: version. -> ok rec state created | notfound | staging
const RefitScript& RefitReleaseScript();
// KEYS: version, exp, cov, shards, worker. ARGV: slot, field, shard bytes.
// -> ok rec state created | notfound | noworker | model | releasing | slot | exists
const RefitScript& RefitPublishScript();
// KEYS: version, shards. -> ok shard... | notfound
const RefitScript& RefitListShardsScript();
// KEYS: version, shards, worker, leases of the version, leases. ARGV: field, uid.
// -> ok | notfound | state | noworker | leased
const RefitScript& RefitWithdrawScript();
// KEYS: version, worker, leases of the version, lease ids, leases.
// ARGV: worker, ttl ms, uid, candidate id...
// -> ok id expiry | notfound | noworker | role | model | state | ids
const RefitScript& RefitLeaseScript();
// KEYS: leases of the version, lease ids, leases. ARGV: id, worker, uid.
// -> ok "1"|"0" | owner
const RefitScript& RefitDropLeaseScript();
// KEYS: versions, workers, leases. ARGV: version key prefix, worker key prefix.
// -> ok versions(count, then rec state created...) leases(count, then uid
//    worker "id|exp"...) workers(count, then id role model exp...)
const RefitScript& RefitSnapshotScript();

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REFIT_REDIS_SCRIPTS_H_
