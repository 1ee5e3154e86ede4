#include "cli/flags.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"

namespace mx::cli {

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& ParsedArgs::All(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = values.find(name);
  return it == values.end() ? kEmpty : it->second;
}

absl::StatusOr<ParsedArgs> ParseFlags(const std::vector<std::string>& args,
                                      const std::vector<FlagSpec>& specs) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg.rfind("--", 0) != 0) {
      if (!flags_done && arg == "-h") {
        parsed.values["help"].push_back("true");
        continue;
      }
      parsed.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const FlagSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (spec->value_name.empty()) {
      if (has_inline && value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      if (!has_inline || value == "true") parsed.values[name] = {"true"};
      else parsed.values.erase(name);
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    auto& slot = parsed.values[name];
    if (!spec->repeatable) slot.clear();
    slot.push_back(value);
  }
  return parsed;
}

std::string FlagHelp(const std::vector<FlagSpec>& specs) {
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const auto& spec : specs) {
    std::string left = absl::StrCat("  --", spec.name);
    if (!spec.value_name.empty()) absl::StrAppend(&left, " ", spec.value_name);
    width = std::max(width, left.size());
    rows.emplace_back(left, spec.help + (spec.repeatable ? " (repeatable)" : ""));
  }
  std::string out;
  for (const auto& [left, help] : rows) {
    absl::StrAppend(&out, left, std::string(width + 2 - left.size(), ' '), help, "\n");
  }
  return out;
}

absl::StatusOr<uint64_t> ParseUnsigned(const std::string& flag, const std::string& text,
                                       uint64_t max) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", text, "' is not an integer in [0, ", max, "]"));
  }
  return value;
}

absl::StatusOr<int64_t> ParseSigned(const std::string& flag, const std::string& text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' is not an integer"));
  }
  return value;
}

}  // namespace mx::cli
