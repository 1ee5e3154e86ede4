// libFuzzer target: the Redis store's value decoders on arbitrary bytes, as
// read back from a Redis anyone with access could have written to. Anything
// that decodes must re-encode and decode to the same thing; reply-ready
// records (handed out without decoding their tensors) to the same reply parts.
#include <cstddef>
#include <cstdint>

#include "server/encoded_reply.h"
#include "store/redis/redis_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace r = mx::store::redis;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto record = r::DecodeRecord("src", "worker", bytes, "owner");
  if (record.ok()) {
    auto again = r::DecodeRecord("src", "worker", r::EncodeRecord(**record), "owner");
    if (!again.ok()) __builtin_trap();
    // A reply-ready record passes its reply parts through unchanged.
    const auto* first = (*record)->encoded.get();
    const auto* second = (*again)->encoded.get();
    if ((first == nullptr) != (second == nullptr)) __builtin_trap();
    if (first != nullptr &&
        (first->worker_head != second->worker_head ||
         first->worker_payload != second->worker_payload ||
         first->tensor_entries != second->tensor_entries ||
         first->reply_tail != second->reply_tail ||
         (*record)->worker.nixl_metadata() != (*again)->worker.nixl_metadata())) {
      __builtin_trap();
    }
  }
  mx::store::WorkerRef ref;
  (void)r::DecodeSummary(bytes, &ref);
  auto state = r::ParseState(bytes);
  if (state.ok()) {
    auto again = r::ParseState(r::FormatState(*state));
    if (!again.ok() || again->status != state->status ||
        again->updated_at_ms != state->updated_at_ms ||
        again->source_load != state->source_load) {
      __builtin_trap();
    }
  }
  return 0;
}
