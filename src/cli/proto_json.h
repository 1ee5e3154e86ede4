// mxctl's JSON is the proto3 JSON mapping of the wire messages, so the
// shape is defined by proto/p2p.proto and never drifts from it:
//  - output: original (snake_case) field names, every scalar printed even
//    when zero, enums by name, 64-bit integers as decimal strings, bytes
//    as base64; one object per line.
//  - input: snake_case or lowerCamelCase names, enums by name or number,
//    64-bit integers as strings or numbers; unknown fields are an error.
#ifndef MX_CLI_PROTO_JSON_H_
#define MX_CLI_PROTO_JSON_H_

#include <string>

#include <google/protobuf/message.h>

#include "absl/status/status.h"

namespace mx::cli {

std::string ToJson(const google::protobuf::Message& message);

// InvalidArgument with the parser's message when `text` does not fit `message`.
absl::Status FromJson(const std::string& text, google::protobuf::Message* message);

// Reads a whole file, or standard input for "-".
absl::Status ReadInput(const std::string& path, std::istream& stdin_stream, std::string* out);

}  // namespace mx::cli

#endif  // MX_CLI_PROTO_JSON_H_
