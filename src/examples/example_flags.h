// Tiny --name=value / --name value parser shared by the two examples.
#ifndef MX_EXAMPLES_EXAMPLE_FLAGS_H_
#define MX_EXAMPLES_EXAMPLE_FLAGS_H_

#include <cstdlib>
#include <map>
#include <string>

namespace mx::examples {

inline std::map<std::string, std::string> ParseFlags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) continue;
    arg = arg.substr(2);
    if (auto eq = arg.find('='); eq != std::string::npos) {
      flags[arg.substr(0, eq)] = arg.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      flags[arg] = argv[++i];
    } else {
      flags[arg] = "true";
    }
  }
  return flags;
}

inline std::string Flag(const std::map<std::string, std::string>& flags, const std::string& name,
                        const std::string& fallback) {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

}  // namespace mx::examples

#endif  // MX_EXAMPLES_EXAMPLE_FLAGS_H_
