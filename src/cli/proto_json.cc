#include "cli/proto_json.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace mx::cli {

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = false;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

absl::Status FromJson(const std::string& text, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(text, message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", message->GetDescriptor()->name(),
                                                   " JSON: ", status.message().ToString()));
  }
  return absl::OkStatus();
}

absl::Status ReadInput(const std::string& path, std::istream& stdin_stream, std::string* out) {
  if (path == "-") {
    std::stringstream buffer;
    buffer << stdin_stream.rdbuf();
    *out = buffer.str();
    return absl::OkStatus();
  }
  auto text = ReadFileToString(path);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  *out = *std::move(text);
  return absl::OkStatus();
}

}  // namespace mx::cli
