#include "cli/mxctl.h"

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "absl/strings/str_replace.h"
#include "cli/command.h"
#include "common/build_info.h"

namespace mx::cli {
namespace {

std::vector<FlagSpec> GlobalFlags() {
  return {
      {"server", "HOST:PORT", "mxd address (default $MX_SERVER_ADDRESS, else localhost:8001)"},
      {"json", "", "machine-readable JSON output (see mxctl --help)"},
      {"timeout", "SECONDS", "deadline of the whole call, retries included (default 10)"},
      {"tls", "", "connect with TLS (implied by --ca-file/--cert-file)"},
      {"ca-file", "PEM", "CA certificates to verify the server with"},
      {"cert-file", "PEM", "client certificate for mutual TLS"},
      {"key-file", "PEM", "client private key for mutual TLS"},
      {"server-name", "NAME", "expected server name in its certificate"},
      {"token", "TOKEN", "bearer token (sent as authorization: Bearer TOKEN)"},
      {"token-file", "FILE", "read the bearer token from FILE"},
      {"help", "", "show help"},
  };
}

std::vector<Command> Commands() {
  return {ListCommand(), GetCommand(), PublishCommand(), StatusCommand(), HashCommand(),
          HealthCommand(), WatchCommand(), RefitCommand(), RemoveCommand()};
}

std::string MainHelp() {
  std::string out =
      "mxctl: inspect and drive an mxd (ModelExpress P2P metadata) server.\n\n"
      "usage: mxctl [global flags] COMMAND [flags] [args]\n\ncommands:\n";
  for (const auto& c : Commands()) {
    absl::StrAppend(&out, "  ", c.name, std::string(10 - c.name.size(), ' '), c.summary, "\n");
  }
  absl::StrAppend(
      &out, "\nglobal flags:\n", FlagHelp(GlobalFlags()),
      "\n--json prints one JSON object per line: the proto3 JSON mapping of the reply\n"
      "message (snake_case field names, every scalar present, enums by name, 64-bit\n"
      "integers such as updated_at, addr and size as decimal strings).\n"
      "Exit codes: 0 success, 1 the call failed (one \"mxctl: ...\" line on stderr),\n"
      "2 bad usage. \"mxctl COMMAND --help\" describes a command.\n"
      "\"mxctl --version\" prints the version, git commit and build type.\n");
  return out;
}

std::string CommandHelp(const Command& c) {
  return absl::StrCat("usage: mxctl ", c.name, " ", c.usage, "\n\n", c.summary, "\n\n",
                      c.details, c.details.empty() ? "" : "\n", "flags:\n", FlagHelp(c.flags),
                      "\nglobal flags:\n", FlagHelp(GlobalFlags()));
}

// The subcommand is the first argument that is neither a global flag nor its value.
int FindCommandIndex(const std::vector<std::string>& args) {
  const auto globals = GlobalFlags();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) return static_cast<int>(i);
    const std::string name = arg.substr(2);
    if (name.find('=') != std::string::npos) continue;
    for (const auto& g : globals) {
      if (g.name == name && !g.value_name.empty()) ++i;
    }
  }
  return -1;
}

absl::StatusOr<ClientOptions> OptionsFromArgs(const ParsedArgs& args,
                                              const std::string& default_server) {
  ClientOptions options;
  options.address = args.Get("server", default_server.empty() ? "localhost:8001" : default_server);
  if (args.Has("timeout")) {
    double seconds = 0;
    if (!absl::SimpleAtod(args.Get("timeout"), &seconds) || seconds <= 0 || seconds > 86400) {
      return absl::InvalidArgumentError(
          absl::StrCat("--timeout: '", args.Get("timeout"), "' is not a positive number of seconds"));
    }
    options.deadline = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    options.attempt_deadline = std::min(options.attempt_deadline, options.deadline);
  }
  options.use_tls = args.Has("tls") || args.Has("ca-file") || args.Has("cert-file");
  options.tls.ca_file = args.Get("ca-file");
  options.tls.cert_file = args.Get("cert-file");
  options.tls.key_file = args.Get("key-file");
  options.tls.server_name_override = args.Get("server-name");
  options.bearer_token = args.Get("token");
  if (args.Has("token-file")) {
    auto text = ReadFileToString(args.Get("token-file"), "token file");
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--token-file: ", text.status().message()));
    }
    options.bearer_token = std::string(absl::StripAsciiWhitespace(*text));
  }
  return options;
}

}  // namespace

int Context::Fail(const absl::Status& status) const {
  std::string message(status.message());
  absl::StrReplaceAll({{"\n", " "}, {"\r", " "}}, &message);
  io.err << "mxctl: " << absl::StatusCodeToString(status.code()) << ": " << message << "\n";
  return kExitFailure;
}

int Context::Usage(const std::string& message) const {
  io.err << "mxctl: " << message << "\n";
  return kExitUsage;
}

std::string Age(int64_t updated_at_ms) {
  if (updated_at_ms <= 0) return "-";
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t s = std::max<int64_t>(0, (now - updated_at_ms) / 1000);
  if (s < 120) return absl::StrCat(s, "s ago");
  if (s < 7200) return absl::StrCat(s / 60, "m ago");
  if (s < 172800) return absl::StrCat(s / 3600, "h ago");
  return absl::StrCat(s / 86400, "d ago");
}

int RunMxctl(const std::vector<std::string>& args, const std::string& default_server, Io io) {
  const int index = FindCommandIndex(args);
  if (index < 0 && std::find(args.begin(), args.end(), "--version") != args.end()) {
    io.out << VersionLine("mxctl") << "\n";
    return 0;
  }
  if (index < 0 || args[index] == "help") {
    const bool asked = index >= 0 || std::find(args.begin(), args.end(), "--help") != args.end() ||
                       std::find(args.begin(), args.end(), "-h") != args.end();
    (asked ? io.out : io.err) << MainHelp();
    return asked ? 0 : kExitUsage;
  }
  const auto commands = Commands();
  auto command = std::find_if(commands.begin(), commands.end(),
                              [&](const Command& c) { return c.name == args[index]; });
  if (command == commands.end()) {
    io.err << "mxctl: unknown command '" << args[index] << "' (see mxctl --help)\n";
    return kExitUsage;
  }
  std::vector<std::string> rest = args;
  rest.erase(rest.begin() + index);
  std::vector<FlagSpec> specs = GlobalFlags();
  specs.insert(specs.end(), command->flags.begin(), command->flags.end());
  auto parsed = ParseFlags(rest, specs);
  if (!parsed.ok()) {
    io.err << "mxctl " << command->name << ": " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    io.out << CommandHelp(*command);
    return 0;
  }
  auto options = OptionsFromArgs(*parsed, default_server);
  Context ctx{*parsed, io, parsed->Has("json"), nullptr};
  if (!options.ok()) return ctx.Usage(std::string(options.status().message()));
  ctx.connect = [options = *options] { return Client::Create(options); };
  return command->run(ctx);
}

}  // namespace mx::cli
