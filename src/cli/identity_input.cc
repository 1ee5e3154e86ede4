#include "cli/identity_input.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/proto_json.h"

namespace mx::cli {
namespace {

namespace p2p = model_express::p2p;

// Tries `text`, then PREFIX + `text` (upper-cased), then a number.
template <typename Enum>
absl::StatusOr<Enum> ParseEnum(const std::string& what, const std::string& prefix,
                               const std::string& text, bool (*parse)(const std::string&, Enum*),
                               bool (*valid)(int)) {
  const std::string upper = absl::AsciiStrToUpper(text);
  Enum value;
  if (parse(upper, &value) || parse(prefix + upper, &value)) return value;
  auto number = ParseUnsigned(what, text, 1000);
  if (number.ok() && valid(static_cast<int>(*number))) return static_cast<Enum>(*number);
  return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a ", what));
}

struct StringField {
  const char* flag;
  std::string* (p2p::SourceIdentity::*mutable_field)();
};

const StringField kStringFields[] = {
    {"mx-version", &p2p::SourceIdentity::mutable_mx_version},
    {"model", &p2p::SourceIdentity::mutable_model_name},
    {"dtype", &p2p::SourceIdentity::mutable_dtype},
    {"quantization", &p2p::SourceIdentity::mutable_quantization},
    {"revision", &p2p::SourceIdentity::mutable_revision},
    {"backend-framework-version", &p2p::SourceIdentity::mutable_backend_framework_version},
    {"torch-version", &p2p::SourceIdentity::mutable_torch_version},
    {"cuda-version", &p2p::SourceIdentity::mutable_cuda_version},
    {"triton-version", &p2p::SourceIdentity::mutable_triton_version},
    {"gpu-arch", &p2p::SourceIdentity::mutable_gpu_arch},
    {"compile-config-digest", &p2p::SourceIdentity::mutable_compile_config_digest},
};

}  // namespace

const std::vector<FlagSpec>& IdentityFlags() {
  static const std::vector<FlagSpec> kFlags = {
      {"identity", "FILE", "SourceIdentity as JSON (\"-\" = stdin); flags below override it"},
      {"model", "NAME", "identity.model_name"},
      {"mx-version", "V", "identity.mx_version"},
      {"source-type", "T", "weights|lora|cuda_graph|... or number (default weights)"},
      {"framework", "F", "unknown|vllm|sglang|trt_llm or number"},
      {"tp", "N", "tensor_parallel_size"},
      {"pp", "N", "pipeline_parallel_size"},
      {"ep", "N", "expert_parallel_size"},
      {"dtype", "D", "identity.dtype"},
      {"quantization", "Q", "identity.quantization"},
      {"revision", "R", "identity.revision"},
      {"extra", "K=V", "identity.extra_parameters entry", true},
      {"backend-framework-version", "V", "identity.backend_framework_version"},
      {"torch-version", "V", "identity.torch_version"},
      {"cuda-version", "V", "identity.cuda_version"},
      {"triton-version", "V", "identity.triton_version"},
      {"gpu-arch", "A", "identity.gpu_arch"},
      {"compile-config-digest", "D", "identity.compile_config_digest"},
  };
  return kFlags;
}

bool HasIdentityInput(const ParsedArgs& args) {
  for (const auto& spec : IdentityFlags()) {
    if (args.Has(spec.name)) return true;
  }
  return false;
}

absl::StatusOr<p2p::SourceIdentity> IdentityFromArgs(const ParsedArgs& args, std::istream& in) {
  p2p::SourceIdentity identity;
  if (args.Has("identity")) {
    std::string text;
    if (auto s = ReadInput(args.Get("identity"), in, &text); !s.ok()) return s;
    if (auto s = FromJson(text, &identity); !s.ok()) return s;
  }
  for (const auto& field : kStringFields) {
    if (args.Has(field.flag)) *(identity.*field.mutable_field)() = args.Get(field.flag);
  }
  if (args.Has("source-type")) {
    auto type = ParseSourceType(args.Get("source-type"));
    if (!type.ok()) return type.status();
    identity.set_mx_source_type(*type);
  }
  if (args.Has("framework")) {
    auto framework = ParseFramework(args.Get("framework"));
    if (!framework.ok()) return framework.status();
    identity.set_backend_framework(*framework);
  }
  const std::pair<const char*, void (p2p::SourceIdentity::*)(uint32_t)> sizes[] = {
      {"tp", &p2p::SourceIdentity::set_tensor_parallel_size},
      {"pp", &p2p::SourceIdentity::set_pipeline_parallel_size},
      {"ep", &p2p::SourceIdentity::set_expert_parallel_size}};
  for (const auto& [flag, set] : sizes) {
    if (!args.Has(flag)) continue;
    auto n = ParseUnsigned(absl::StrCat("--", flag), args.Get(flag), UINT32_MAX);
    if (!n.ok()) return n.status();
    (identity.*set)(static_cast<uint32_t>(*n));
  }
  for (const auto& entry : args.All("extra")) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--extra: '", entry, "' is not KEY=VALUE"));
    }
    (*identity.mutable_extra_parameters())[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return identity;
}

absl::StatusOr<p2p::SourceStatus> ParseStatus(const std::string& text) {
  return ParseEnum<p2p::SourceStatus>("status (initializing|ready|stale)", "SOURCE_STATUS_", text,
                                      p2p::SourceStatus_Parse, p2p::SourceStatus_IsValid);
}

absl::StatusOr<p2p::BackendFramework> ParseFramework(const std::string& text) {
  return ParseEnum<p2p::BackendFramework>("framework (vllm|sglang|trt_llm|unknown)",
                                          "BACKEND_FRAMEWORK_", text,
                                          p2p::BackendFramework_Parse,
                                          p2p::BackendFramework_IsValid);
}

absl::StatusOr<p2p::MxSourceType> ParseSourceType(const std::string& text) {
  return ParseEnum<p2p::MxSourceType>("source type (weights|lora|cuda_graph|...)",
                                      "MX_SOURCE_TYPE_", text, p2p::MxSourceType_Parse,
                                      p2p::MxSourceType_IsValid);
}

std::string ShortStatusName(p2p::SourceStatus status) {
  std::string name = p2p::SourceStatus_Name(status);
  const std::string prefix = "SOURCE_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : std::to_string(status);
}

}  // namespace mx::cli
