// libFuzzer target: the --auth-token-file parser on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/token_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto table = mx::auth::ParseTokenFile(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (table.ok()) {
    for (const auto& [digest, identity] : *table) {
      if (digest.size() != 32 || identity.name.empty()) __builtin_trap();
    }
  }
  return 0;
}
