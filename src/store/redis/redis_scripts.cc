#include "store/redis/redis_scripts.h"

#include <openssl/sha.h>

#include <string_view>

#include "common/hex.h"

namespace mx::store::redis {
namespace {

// Every script that changes a worker appends {s: escaped source id, w:
// worker id} to the change log (last KEYS entry; its length bound is the
// last ARGV), in the same atomic step: replicas tailing it never miss a
// write nor see one that did not happen. A heartbeat's entry also carries
// {t: the state it wrote}, so tailing replicas apply it without reading the
// worker back (older replicas ignore the field and read it).
//
// The payload was uploaded to KEYS[3] (a staging key with a TTL) in the
// same pipeline; the script only renames it into place, so megabytes of
// tensors never pass through Lua. Lua numbers are doubles, exact for unix
// milliseconds; %d prints them without an exponent.
constexpr absl::string_view kPublish = R"lua(
if redis.call('EXISTS', KEYS[3]) == 0 then return {'nostage'} end
local old = redis.call('HMGET', KEYS[1], 'owner', 'model_key')
if old[2] then
  if ARGV[7] == '1' and old[1] ~= ARGV[8] then
    redis.call('DEL', KEYS[3])
    return {'denied'}
  end
  if old[2] ~= KEYS[6] then
    if redis.call('HINCRBY', old[2], ARGV[1], -1) <= 0 then
      redis.call('HDEL', old[2], ARGV[1])
    end
    redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
  end
else
  redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
end
local t = redis.call('TIME')
local state = string.format('%d:%d', tonumber(ARGV[6]),
                            tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('RENAME', KEYS[3], KEYS[2])
redis.call('PERSIST', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[4], 'rank', ARGV[5], 'model_key', KEYS[6])
redis.call('HSET', KEYS[4], 'm:' .. ARGV[2], ARGV[3], 't:' .. ARGV[2], state)
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[9], '*', 's', ARGV[1], 'w', ARGV[2])
return {'ok', state}
)lua";

// ARGV[7] is the ":<source_load>" suffix of the state ("" for load 0), so a
// heartbeat of an old client writes exactly the two-part state it always did.
constexpr absl::string_view kUpdateStatus = R"lua(
local f = redis.call('HMGET', KEYS[1], 'rank', 'owner')
if not f[1] or (ARGV[3] ~= '' and f[1] ~= ARGV[3]) then return {'notfound'} end
if ARGV[4] == '1' and f[2] ~= ARGV[5] then return {'denied'} end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[2], 't:' .. ARGV[1]) ~= ARGV[6] then
  return {'changed'}
end
local t = redis.call('TIME')
local state = string.format('%d:%d', tonumber(ARGV[2]),
                            tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) .. ARGV[7]
redis.call('HSET', KEYS[2], 't:' .. ARGV[1], state)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[9], '*', 's', ARGV[8], 'w', ARGV[1], 't', state)
return {'ok', state}
)lua";

// Without an expected state (ARGV[3] empty) nothing is decoded or
// required: fields of a worker whose bookkeeping key is missing (a planted
// or half-written record) are deleted too, and a source key that is not a
// hash is left to RemoveSource.
constexpr absl::string_view kRemove = R"lua(
local model_key = redis.call('HGET', KEYS[1], 'model_key')
if not model_key and ARGV[3] ~= '' then return {'notfound'} end
local is_hash = redis.call('TYPE', KEYS[3]).ok == 'hash'
if ARGV[3] ~= '' and (not is_hash or redis.call('HGET', KEYS[3], 't:' .. ARGV[2]) ~= ARGV[3]) then
  return {'changed'}
end
local gone = redis.call('DEL', KEYS[1], KEYS[2])
if model_key and redis.call('HINCRBY', model_key, ARGV[1], -1) <= 0 then
  redis.call('HDEL', model_key, ARGV[1])
end
if is_hash then
  gone = gone + redis.call('HDEL', KEYS[3], 'm:' .. ARGV[2], 't:' .. ARGV[2])
  if redis.call('HLEN', KEYS[3]) == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
end
if gone == 0 then return {'notfound'} end
-- The change log (discovery) hears of the removal in the same step.
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 's', ARGV[1], 'w', ARGV[2])
return {'ok'}
)lua";

Script Make(absl::string_view name, absl::string_view body) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  return Script{name, body, ToHex(std::string_view(reinterpret_cast<const char*>(digest),
                                                   sizeof(digest)))};
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
}  // namespace mx::store::redis
