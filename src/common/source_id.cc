#include "mx/source_id.h"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <string_view>

#include "common/hex.h"
#include "common/json_text.h"

namespace mx {
namespace {

using model_express::p2p::SourceIdentity;

// `{"k":v,...}` from keys in map order and values already in JSON form.
template <typename Map>
std::string JsonObject(const Map& fields) {
  std::string out = "{";
  for (const auto& [key, value] : fields) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(key, &out);
    out.push_back(':');
    out.append(value);
  }
  out.push_back('}');
  return out;
}

std::string JsonLowerString(std::string_view s) {
  std::string out;
  AppendJsonString(AsciiLower(s), &out);
  return out;
}

// extra_parameters: original keys in byte order, lowercased; on a collision
// after lowercasing the first key in that order wins.
std::string ExtraParametersJson(const SourceIdentity& identity) {
  std::map<std::string, std::string> by_original(identity.extra_parameters().begin(),
                                                 identity.extra_parameters().end());
  std::map<std::string, std::string> lowered;
  for (const auto& [key, value] : by_original) {
    lowered.emplace(AsciiLower(key), JsonLowerString(value));  // emplace keeps the first
  }
  return JsonObject(lowered);
}

}  // namespace

std::string CanonicalIdentityJson(const SourceIdentity& identity) {
  // std::map orders keys by byte value, which is the canonical order.
  std::map<std::string_view, std::string> fields;
  fields["mx_version"] = JsonLowerString(identity.mx_version());
  fields["mx_source_type"] = std::to_string(static_cast<int>(identity.mx_source_type()));
  fields["model_name"] = JsonLowerString(identity.model_name());
  fields["backend_framework"] = std::to_string(static_cast<int>(identity.backend_framework()));
  fields["tensor_parallel_size"] = std::to_string(identity.tensor_parallel_size());
  fields["pipeline_parallel_size"] = std::to_string(identity.pipeline_parallel_size());
  fields["expert_parallel_size"] = std::to_string(identity.expert_parallel_size());
  fields["dtype"] = JsonLowerString(identity.dtype());
  fields["quantization"] = JsonLowerString(identity.quantization());
  fields["extra_parameters"] = ExtraParametersJson(identity);
  fields["revision"] = JsonLowerString(identity.revision());
  const std::pair<std::string_view, const std::string*> optional_fields[] = {
      {"backend_framework_version", &identity.backend_framework_version()},
      {"torch_version", &identity.torch_version()},
      {"cuda_version", &identity.cuda_version()},
      {"triton_version", &identity.triton_version()},
      {"gpu_arch", &identity.gpu_arch()},
      {"compile_config_digest", &identity.compile_config_digest()},
  };
  for (const auto& [key, value] : optional_fields) {
    if (!value->empty()) fields[key] = JsonLowerString(*value);
  }

  return JsonObject(fields);
}

std::string ComputeSourceId(const SourceIdentity& identity) {
  const std::string json = CanonicalIdentityJson(identity);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(json.data(), json.size(), digest, &digest_len, EVP_sha256(), nullptr);
  // The id is the first 8 bytes of the digest, as 16 lowercase hex digits.
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest),
                                std::min<unsigned int>(8, digest_len)));
}

}  // namespace mx
