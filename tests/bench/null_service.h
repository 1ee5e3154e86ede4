// The floor: P2pService answering every call with a reply serialized once
// at startup, of the same size as mxd's reply, and doing nothing else.
// Raw (ByteBuffer) methods, so not even the reply is encoded per call.
// With `parse_publish`, PublishMetadata also parses each request into a
// message on a protobuf arena before replying: the least work any correct
// server must do with a publish (the "parse floor").
#ifndef MX_TESTS_BENCH_NULL_SERVICE_H_
#define MX_TESTS_BENCH_NULL_SERVICE_H_

#include <grpcpp/support/byte_buffer.h>

#include "p2p.grpc.pb.h"

namespace mx::bench {

using NullServiceBase = model_express::p2p::P2pService::WithRawCallbackMethod_PublishMetadata<
    model_express::p2p::P2pService::WithRawCallbackMethod_ListSources<
        model_express::p2p::P2pService::WithRawCallbackMethod_GetMetadata<
            model_express::p2p::P2pService::WithRawCallbackMethod_UpdateStatus<
                model_express::p2p::P2pService::Service>>>>;

class NullService final : public NullServiceBase {
 public:
  // `listed_workers`: how many refs an unfiltered ListSources returns.
  explicit NullService(int listed_workers, bool parse_publish = false);

  grpc::ServerUnaryReactor* PublishMetadata(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListSources(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetMetadata(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateStatus(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

 private:
  grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer& canned, grpc::ByteBuffer* response);

  const bool parse_publish_;
  grpc::ByteBuffer publish_;
  grpc::ByteBuffer list_one_;
  grpc::ByteBuffer list_all_;
  grpc::ByteBuffer get_;
  grpc::ByteBuffer get_worst_case_;
  grpc::ByteBuffer update_;
};

// Serializes `message` into a ByteBuffer (one slice).
grpc::ByteBuffer ToByteBuffer(const google::protobuf::MessageLite& message);

// Parses a (possibly empty or multi-slice) ByteBuffer.
bool ParseByteBuffer(const grpc::ByteBuffer& buffer, google::protobuf::MessageLite* out);

// Worker ids containing this marker select the 100,000-tensor reply.
constexpr char kWorstCaseTag[] = "-worst100k";

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_NULL_SERVICE_H_
