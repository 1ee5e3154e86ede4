// A WatchSources stream read by a background thread, so tests can wait for
// the next event with a deadline.
#ifndef MX_TESTS_INTEGRATION_WATCH_STREAM_H_
#define MX_TESTS_INTEGRATION_WATCH_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "discovery.grpc.pb.h"

namespace mx::testing {

namespace disc = ::mxd::discovery::v1;

class WatchStream {
 public:
  WatchStream(int port, disc::WatchSourcesRequest request, bool read = true) {
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = disc::Discovery::NewStub(channel_);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    reader_ = stub_->WatchSources(&context_, request);
    if (read) Read();
  }
  ~WatchStream() {
    context_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }

  // Starts the reading thread (when constructed with read = false).
  void Read() {
    thread_ = std::thread([this] {
      disc::SourceEvent event;
      while (reader_->Read(&event)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(event);
      }
      grpc::Status status = reader_->Finish();
      absl::MutexLock lock(&mu_);
      status_ = status;
    });
  }

  // The next event other than PROGRESS, or nullopt when none came in
  // `timeout` or the stream ended.
  std::optional<disc::SourceEvent> Next(std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                        bool skip_progress = true) {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
    for (;;) {
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !events_.empty() || status_.has_value();
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) return std::nullopt;
      if (events_.empty()) return std::nullopt;  // ended
      disc::SourceEvent event = events_.front();
      events_.pop_front();
      if (skip_progress && event.type() == disc::SourceEvent::TYPE_PROGRESS) continue;
      return event;
    }
  }

  // The stream's final status, once it ended within `timeout`.
  std::optional<grpc::Status> Ended(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return status_.has_value(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ended), absl::FromChrono(timeout))) {
      return std::nullopt;
    }
    return status_;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<disc::Discovery::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<disc::SourceEvent>> reader_;
  absl::Mutex mu_;
  std::deque<disc::SourceEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// A READY, rank-0 filter (the usual target's watch).
inline disc::WatchSourcesRequest ReadyWatch(const std::string& token = "") {
  disc::WatchSourcesRequest request;
  request.mutable_filter()->set_status_filter(model_express::p2p::SOURCE_STATUS_READY);
  request.set_resume_token(token);
  return request;
}

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_WATCH_STREAM_H_
