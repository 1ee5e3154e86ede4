// mxctl: command-line client for mxd. See `mxctl --help` and docs/client.md.
#include <cstdlib>
#include <iostream>

#include "cli/mxctl.h"

int main(int argc, char** argv) {
  const char* server = std::getenv("MX_SERVER_ADDRESS");
  return mx::cli::RunMxctl(std::vector<std::string>(argv + 1, argv + argc),
                           server != nullptr ? server : "", {std::cin, std::cout, std::cerr});
}
