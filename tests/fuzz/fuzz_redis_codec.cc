// libFuzzer target: the Redis store's value decoders on arbitrary bytes, as
// read back from a Redis anyone with access could have written to. Anything
// that decodes must re-encode and decode to the same thing; reply-ready
// records (handed out without decoding their tensors) to the same reply parts,
// and reading them in place (views into the buffer the value was read into,
// as the store does for large values) takes and yields exactly what copying
// does.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "server/encoded_reply.h"
#include "store/redis/redis_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace r = mx::store::redis;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto record = r::DecodeRecord("src", "worker", bytes, "owner");
  std::shared_ptr<char> buffer(new char[size + 1], std::default_delete<char[]>());
  std::copy(data, data + size, buffer.get());
  auto in_place = r::DecodeRecord("src", "worker", absl::string_view(buffer.get(), size), "owner",
                                  buffer);
  if (record.ok() != in_place.ok()) __builtin_trap();
  if (record.ok()) {
    const auto* copied = (*record)->encoded.get();
    const auto* viewed = (*in_place)->encoded.get();
    if ((copied == nullptr) != (viewed == nullptr) ||
        r::EncodeRecord(**record) != r::EncodeRecord(**in_place) ||
        (copied != nullptr &&
         (copied->payload() != viewed->payload() || copied->worker_head != viewed->worker_head ||
          copied->reply_tail != viewed->reply_tail ||
          mx::server::NixlBlob(**record) != mx::server::NixlBlob(**in_place)))) {
      __builtin_trap();
    }
  }
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
