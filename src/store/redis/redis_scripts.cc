#include "store/redis/redis_scripts.h"

#include <openssl/sha.h>

namespace mx::store::redis {
namespace {

// Shared preamble: state stamping from the server clock. Lua numbers are
// doubles, exact for unix milliseconds; %d prints them without exponent.
constexpr absl::string_view kPublish = R"lua(
local function stamp(status)
  local t = redis.call('TIME')
  return string.format('%d:%d', tonumber(status),
                       tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local old = redis.call('HMGET', KEYS[1], 'owner', 'rank_key', 'model_key')
if old[2] then
  if ARGV[8] == '1' and old[1] ~= ARGV[9] then return {'denied'} end
  if old[2] ~= KEYS[5] then redis.call('SREM', old[2], ARGV[2]) end
  if old[3] ~= KEYS[6] then
    if redis.call('HINCRBY', old[3], ARGV[1], -1) <= 0 then
      redis.call('HDEL', old[3], ARGV[1])
    end
    redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
  end
else
  redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
end
local state = stamp(ARGV[7])
redis.call('HSET', KEYS[1], 'rec', ARGV[3], 'owner', ARGV[5], 'rank', ARGV[6],
           'rank_key', KEYS[5], 'model_key', KEYS[6])
redis.call('SADD', KEYS[5], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], state)
redis.call('SADD', KEYS[4], ARGV[1])
return {'ok', state}
)lua";

constexpr absl::string_view kUpdateStatus = R"lua(
local f = redis.call('HMGET', KEYS[1], 'rank', 'owner')
if not f[1] or (ARGV[3] ~= '' and f[1] ~= ARGV[3]) then return {'notfound'} end
if ARGV[4] == '1' and f[2] ~= ARGV[5] then return {'denied'} end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[6] then
  return {'changed'}
end
local t = redis.call('TIME')
local state = string.format('%d:%d', tonumber(ARGV[2]),
                            tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HSET', KEYS[2], ARGV[1], state)
return {'ok', state}
)lua";

constexpr absl::string_view kRemove = R"lua(
local f = redis.call('HMGET', KEYS[1], 'rank_key', 'model_key')
if not f[1] then return {'notfound'} end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[3] then
  return {'changed'}
end
redis.call('SREM', f[1], ARGV[2])
if redis.call('HINCRBY', f[2], ARGV[1], -1) <= 0 then redis.call('HDEL', f[2], ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
return {'ok'}
)lua";

constexpr absl::string_view kGet = R"lua(
local f = redis.call('HMGET', KEYS[1], 'rec', 'owner')
if not f[1] then return {} end
return {f[1], f[2], redis.call('HGET', KEYS[2], ARGV[1])}
)lua";

// Read-only. Builds per-source key names from the escaped source ids held
// in the index; HMGET is chunked because Lua 5.1's unpack() tops out near
// 8,000 values.
constexpr absl::string_view kList = R"lua(
local base, mode = ARGV[1], ARGV[2]
local want_status, min_at = ARGV[5], tonumber(ARGV[6])
local sources
if mode == 'one' then sources = {ARGV[3]}
elseif mode == 'set' then sources = redis.call('SMEMBERS', ARGV[3])
else sources = redis.call('HKEYS', ARGV[3]) end
local function hmget(key, ids)
  local out = {}
  for first = 1, #ids, 1000 do
    local part = redis.call('HMGET', key, unpack(ids, first, math.min(first + 999, #ids)))
    for i = 1, #part do out[#out + 1] = part[i] end
  end
  return out
end
local out = {}
for _, s in ipairs(sources) do
  local pre = base .. 's:' .. s .. ':'
  local ids, states
  if ARGV[4] ~= '' then
    ids = redis.call('SMEMBERS', pre .. 'rank:' .. ARGV[4])
    states = hmget(pre .. 'state', ids)
  else
    local flat = redis.call('HGETALL', pre .. 'state')
    ids, states = {}, {}
    for i = 1, #flat, 2 do
      ids[#ids + 1] = flat[i]
      states[#states + 1] = flat[i + 1]
    end
  end
  local keep, kept_states = {}, {}
  for i = 1, #ids do
    local st = states[i]
    if st then
      local colon = string.find(st, ':', 1, true)
      if (want_status == '' or string.sub(st, 1, colon - 1) == want_status) and
         (not min_at or tonumber(string.sub(st, colon + 1)) >= min_at) then
        keep[#keep + 1] = ids[i]
        kept_states[#kept_states + 1] = st
      end
    end
  end
  local sums = hmget(pre .. 'sum', keep)
  for i = 1, #keep do
    if sums[i] then
      out[#out + 1] = s
      out[#out + 1] = keep[i]
      out[#out + 1] = sums[i]
      out[#out + 1] = kept_states[i]
    end
  end
end
return out
)lua";

Script Make(absl::string_view name, absl::string_view body) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xF]);
  }
  return Script{name, body, hex};
}

}  // namespace

const Script& PublishScript() {
  static const Script s = Make("publish", kPublish);
  return s;
}
const Script& UpdateStatusScript() {
  static const Script s = Make("update_status", kUpdateStatus);
  return s;
}
const Script& RemoveScript() {
  static const Script s = Make("remove", kRemove);
  return s;
}
const Script& GetScript() {
  static const Script s = Make("get", kGet);
  return s;
}
const Script& ListScript() {
  static const Script s = Make("list", kList);
  return s;
}

}  // namespace mx::store::redis
