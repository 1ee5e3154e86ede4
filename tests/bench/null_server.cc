// mx_null_server: serves NullService on --listen until SIGTERM/SIGINT.
// --parse-publish: the parse floor (null_service.h).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "null_service.h"

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8002";
  int listed = 10000;
  bool parse_publish = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--listen=", 0) == 0) {
      listen = arg.substr(9);
    } else if (arg == "--parse-publish") {
      parse_publish = true;  // the parse floor: PublishMetadata parses each request
    } else if (arg.rfind("--list-workers=", 0) == 0) {
      listed = std::stoi(arg.substr(15));
    } else {
      std::fprintf(stderr, "usage: mx_null_server [--listen=HOST:PORT] [--list-workers=N] [--parse-publish]\n");
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  mx::bench::NullService service(listed, parse_publish);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(256 << 20);
  builder.SetMaxSendMessageSize(256 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "mx_null_server: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::fprintf(stderr, "mx_null_server: serving on port %d\n", port);
  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown();
  return 0;
}
