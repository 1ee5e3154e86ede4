#include "store/redis/refit_redis_scripts.h"

#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "common/hex.h"

namespace mx::store::redis {
namespace {

// Shared by every script: unix ms on the Redis clock, and a lease entry's
// expiry. Lua numbers are doubles (exact for ms); %d prints them whole.
constexpr absl::string_view kPrelude = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function lease_exp(entry)
  return tonumber(string.match(entry, '|(%d+)$'))
end
)lua";

constexpr absl::string_view kRegisterWorker = R"lua(
local now = now_ms()
local cur = redis.call('HMGET', KEYS[1], 'role', 'model', 'exp')
if cur[3] and tonumber(cur[3]) > now and (cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2]) then
  return {'exists'}
end
local exp = now + tonumber(ARGV[3])
local es = string.format('%d', exp)
redis.call('HSET', KEYS[1], 'role', ARGV[1], 'model', ARGV[2], 'exp', es)
redis.call('PEXPIREAT', KEYS[1], es)
redis.call('ZADD', KEYS[2], es, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now))
return {'ok', es}
)lua";

constexpr absl::string_view kCreateVersion = R"lua(
local now = now_ms()
local existing = redis.call('GET', KEYS[1])
if existing then
  local v = redis.call('HMGET', ARGV[6] .. existing, 'fp', 'rec', 'state', 'created')
  if v[1] == ARGV[5] then return {'ok', v[2], v[3], v[4]} end
  return {'exists'}
end
if ARGV[4] == '1' then
  local b = redis.call('HMGET', KEYS[4], 'state', 'model')
  if not b[1] then return {'nobase'} end
  if b[1] ~= '2' or b[2] ~= ARGV[3] then return {'basestate'} end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'collision'} end
local created = string.format('%d', now)
redis.call('HSET', KEYS[2], 'rec', ARGV[2], 'state', '1', 'model', ARGV[3], 'fp', ARGV[5],
           'created', created, 'nexp', #ARGV - 6)
for i = 7, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[5], created, ARGV[1])
return {'ok', ARGV[2], '1', created}
)lua";

constexpr absl::string_view kRelease = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'rec', 'created')
if not v[1] then return {'notfound'} end
if v[1] == '1' then return {'staging'} end
if v[1] == '2' then
  redis.call('HSET', KEYS[1], 'state', '3', 'released', string.format('%d', now_ms()))
end
return {'ok', v[2], '3', v[3]}
)lua";

constexpr absl::string_view kPublish = R"lua(
local now = now_ms()
local v = redis.call('HMGET', KEYS[1], 'state', 'model', 'nexp', 'rec', 'created')
if not v[1] then return {'notfound'} end
local w = redis.call('HMGET', KEYS[5], 'model', 'exp')
if not w[2] or tonumber(w[2]) <= now then return {'noworker'} end
if w[1] ~= v[2] then return {'model'} end
if v[1] == '3' then return {'releasing'} end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {'slot'} end
local state = v[1]
local cur = redis.call('HGET', KEYS[4], ARGV[2])
if cur then
  if cur ~= ARGV[3] then return {'exists'} end
else
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[1])
  if state == '1' and redis.call('SCARD', KEYS[3]) == tonumber(v[3]) then
    state = '2'
    redis.call('HSET', KEYS[1], 'state', '2')
  end
end
return {'ok', v[4], state, v[5]}
)lua";

constexpr absl::string_view kListShards = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {'notfound'} end
local out = redis.call('HVALS', KEYS[2])
table.insert(out, 1, 'ok')
return out
)lua";

constexpr absl::string_view kWithdraw = R"lua(
local now = now_ms()
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {'notfound'} end
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'notfound'} end
if st ~= '3' then return {'state'} end
local e = redis.call('HGET', KEYS[3], 'exp')
if not e or tonumber(e) <= now then return {'noworker'} end
local leases = redis.call('HGETALL', KEYS[4])
local live = false
for i = 1, #leases, 2 do
  if lease_exp(leases[i + 1]) > now then
    live = true
  else
    redis.call('HDEL', KEYS[4], leases[i])
    redis.call('ZREM', KEYS[5], ARGV[2] .. ':' .. leases[i])
  end
end
if live then return {'leased'} end
redis.call('HDEL', KEYS[2], ARGV[1])
return {'ok'}
)lua";

constexpr absl::string_view kLease = R"lua(
local now = now_ms()
local v = redis.call('HMGET', KEYS[1], 'state', 'model')
if not v[1] then return {'notfound'} end
local w = redis.call('HMGET', KEYS[2], 'role', 'model', 'exp')
if not w[3] or tonumber(w[3]) <= now then return {'noworker'} end
if w[1] ~= '2' then return {'role'} end
if w[2] ~= v[2] then return {'model'} end
local cur = redis.call('HGET', KEYS[3], ARGV[1])
local renewal = cur and lease_exp(cur) > now
if renewal then
  if v[1] == '1' then return {'state'} end
elseif v[1] ~= '2' then
  return {'state'}
end
local id = redis.call('HGET', KEYS[4], 'w:' .. ARGV[1])
if not id then
  for i = 4, #ARGV do
    if redis.call('HSETNX', KEYS[4], 'i:' .. ARGV[i], ARGV[1]) == 1 then
      id = ARGV[i]
      break
    end
  end
  if not id then return {'ids'} end
  redis.call('HSET', KEYS[4], 'w:' .. ARGV[1], id)
end
local es = string.format('%d', now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[3], ARGV[1], id .. '|' .. es)
redis.call('ZADD', KEYS[5], es, ARGV[3] .. ':' .. ARGV[1])
return {'ok', id, es}
)lua";

constexpr absl::string_view kDropLease = R"lua(
local now = now_ms()
local owner = redis.call('HGET', KEYS[2], 'i:' .. ARGV[1])
if not owner then return {'ok', '0'} end
local cur = redis.call('HGET', KEYS[1], owner)
if not cur or lease_exp(cur) <= now then return {'ok', '0'} end
if owner ~= ARGV[2] then return {'owner'} end
redis.call('HDEL', KEYS[1], owner)
redis.call('ZREM', KEYS[3], ARGV[3] .. ':' .. owner)
return {'ok', '1'}
)lua";

constexpr absl::string_view kSnapshot = R"lua(
local now = string.format('(%d', now_ms())
local out = {'ok'}
local uids = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, tostring(#uids))
for _, uid in ipairs(uids) do
  local v = redis.call('HMGET', ARGV[1] .. uid, 'rec', 'state', 'created')
  table.insert(out, v[1] or '')
  table.insert(out, v[2] or '0')
  table.insert(out, v[3] or '0')
end
local ls = redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf')
table.insert(out, tostring(#ls))
for _, m in ipairs(ls) do
  local uid = string.sub(m, 1, 8)
  local worker = string.sub(m, 10)
  table.insert(out, uid)
  table.insert(out, worker)
  table.insert(out, redis.call('HGET', ARGV[1] .. uid .. ':ls', worker) or '')
end
local ws = redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')
table.insert(out, tostring(#ws))
for _, id in ipairs(ws) do
  local r = redis.call('HMGET', ARGV[2] .. id, 'role', 'model', 'exp')
  table.insert(out, id)
  table.insert(out, r[1] or '0')
  table.insert(out, r[2] or '')
  table.insert(out, r[3] or '0')
end
return out
)lua";

RefitScript Make(absl::string_view name, absl::string_view body) {
  RefitScript script{name, absl::StrCat(kPrelude, body), ""};
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(script.body.data()), script.body.size(), digest);
  script.sha1 = ToHex(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
  return script;
}

}  // namespace

#define MX_REFIT_SCRIPT(Fn, body)                      \
  const RefitScript& Fn() {                            \
    static const RefitScript* s = new RefitScript(Make(#Fn, body)); \
    return *s;                                         \
  }
MX_REFIT_SCRIPT(RefitRegisterWorkerScript, kRegisterWorker)
MX_REFIT_SCRIPT(RefitCreateVersionScript, kCreateVersion)
MX_REFIT_SCRIPT(RefitReleaseScript, kRelease)
MX_REFIT_SCRIPT(RefitPublishScript, kPublish)
MX_REFIT_SCRIPT(RefitListShardsScript, kListShards)
MX_REFIT_SCRIPT(RefitWithdrawScript, kWithdraw)
MX_REFIT_SCRIPT(RefitLeaseScript, kLease)
MX_REFIT_SCRIPT(RefitDropLeaseScript, kDropLease)
MX_REFIT_SCRIPT(RefitSnapshotScript, kSnapshot)
#undef MX_REFIT_SCRIPT

}  // namespace mx::store::redis
