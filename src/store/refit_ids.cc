#include "store/refit_ids.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <random>

#include "common/hex.h"

namespace mx::store {
namespace {

std::string LowerHex(const unsigned char* bytes, size_t n) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(bytes), n));
}

}  // namespace

std::string RandomRefitUid() {
  unsigned char bytes[4];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // OpenSSL's generator failed (no entropy): fall back to the OS device.
    std::random_device device;
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(device());
  }
  return LowerHex(bytes, sizeof(bytes));
}

std::string DeriveLeaseId(std::string_view version_id, std::string_view worker_id, int attempt) {
  std::string input;
  input.reserve(version_id.size() + worker_id.size() + 12);
  input.append(version_id);
  input.push_back('\0');
  input.append(worker_id);
  if (attempt > 0) {
    input.push_back('\0');
    input.append(std::to_string(attempt));
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return LowerHex(digest, 4);
}

}  // namespace mx::store
