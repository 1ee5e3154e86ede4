// Names, label values and the compressed table encoding.
#include <openssl/sha.h>
#include <zlib.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "store/kubernetes/object_codec.h"

namespace mx::store::kube {
namespace {

std::string HashHex(const std::string& bytes, size_t hex_chars) {
  return Sha256Hex(bytes).substr(0, hex_chars);
}

bool IsLowerAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

bool IsLowerHexOrDigit(const std::string& s) {
  if (s.empty() || s.size() > 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string WorkerSelector() {
  return absl::StrCat(kManagedByKey, "=", kManagedByValue, ",", kRoleKey, "=worker");
}

std::string HeadName(const WorkerKey& key) {
  // Length-prefixing keeps ("ab","c") and ("a","bc") apart; 128 bits of
  // SHA-256 make collisions negligible, and the exact ids are stored and
  // checked on read anyway.
  std::string material = absl::StrCat(key.source_id.size(), ":", key.source_id, key.worker_id);
  const std::string hash = HashHex(material, 32);
  // A canonical source id (16 hex) is kept readable for kubectl users.
  if (IsLowerHexOrDigit(key.source_id)) return absl::StrCat("mxw-", key.source_id, "-", hash);
  return absl::StrCat("mxw-", hash);
}

std::string ChunkName(const std::string& head, const std::string& generation, int index) {
  return absl::StrCat(head, "-", generation, "-", index);
}

bool IsDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!IsLowerAlnum(name.front()) || !IsLowerAlnum(name.back())) return false;
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsLabelValue(std::string_view value) {
  if (value.empty()) return true;
  if (value.size() > 63 || !IsAlnum(value.front()) || !IsAlnum(value.back())) return false;
  for (char c : value) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string LabelValue(const std::string& value) {
  if (IsLabelValue(value)) return value;
  return absl::StrCat("h-", HashHex(value, 40));
}

std::string StatusLabel(SourceStatus status) {
  switch (status) {
    case model_express::p2p::SOURCE_STATUS_INITIALIZING:
      return "initializing";
    case model_express::p2p::SOURCE_STATUS_READY:
      return "ready";
    case model_express::p2p::SOURCE_STATUS_STALE:
      return "stale";
    default:
      return "unknown";
  }
}

std::string EncodeTable(const model_express::p2p::WorkerMetadata& worker) {
  const std::string raw = worker.SerializeAsString();
  uLongf size = compressBound(raw.size());
  std::string out(size, '\0');
  // Level 3: most of level 9's ratio on tensor tables at a fraction of the CPU.
  compress2(reinterpret_cast<Bytef*>(out.data()), &size,
            reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 3);
  out.resize(size);
  return out;
}

absl::StatusOr<model_express::p2p::WorkerMetadata> DecodeTable(const std::string& compressed) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return absl::InternalError("inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string raw;
  char buffer[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    rc = inflate(&zs, Z_NO_FLUSH);
    raw.append(buffer, sizeof(buffer) - zs.avail_out);
  }
  inflateEnd(&zs);
  model_express::p2p::WorkerMetadata worker;
  if (rc != Z_STREAM_END || !worker.ParseFromString(raw)) {
    return absl::DataLossError("stored tensor table is corrupt");
  }
  return worker;
}

}  // namespace mx::store::kube
