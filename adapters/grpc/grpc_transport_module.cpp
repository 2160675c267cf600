// The replay_grpc module: the grpc:// Transport over grpc::GenericStub. The stub moves raw bytes
// (a serialized request in, a serialized response out), so this transport knows no message type
// and no protocol: the codec owns the messages, as it does for HTTP bodies, and the same
// transport serves every method (ModelInfer, ModelMetadata, ServerReady...).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>

#include "harness/error.h"
#include "replay_grpc_abi.h"

namespace replay {
namespace {

using Clock = std::chrono::steady_clock;

// gRPC's own table (doc/http-grpc-status-mapping.md, read in reverse).
int http_status_of(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 400;
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

// Metadata gRPC accepts: lowercase keys of [0-9a-z-_.], not reserved; printable ASCII values
// unless the key ends in "-bin". Anything else would fail the whole call, so it is left out.
bool sendable(const std::string& key, const std::string& value) {
  if (key.empty() || key.rfind("grpc-", 0) == 0) return false;
  static const char* const kReserved[] = {"content-type",   "te",        "user-agent", "host",
                                          "content-length", "connection"};
  if (std::any_of(std::begin(kReserved), std::end(kReserved),
                  [&](const char* reserved) { return key == reserved; })) {
    return false;
  }
  for (char c : key) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  if (key.size() > 4 && key.compare(key.size() - 4, 4, "-bin") == 0) return true;
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

void append_metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                     Headers* headers) {
  for (const auto& [key, value] : metadata) {
    headers->emplace_back(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
  }
}

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(const std::string& url, const TransportOptions& options) : options_(options) {
    const std::string scheme = "grpc://";
    if (url.rfind(scheme, 0) != 0) fail_usage("remote.url", "'" + url + "' is not a grpc:// URL");
    std::string rest = url.substr(scheme.size());
    const size_t slash = rest.find('/');
    path_ = slash == std::string::npos ? "" : rest.substr(slash);
    std::string authority = rest.substr(0, slash);
    const size_t at = authority.rfind('@');
    if (at != std::string::npos) authority = authority.substr(at + 1);  // never printed
    const size_t colon = authority.rfind(':');
    const std::string port = colon == std::string::npos ? "" : authority.substr(colon + 1);
    const bool port_ok =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
        std::stoi(port) > 0 && std::stoi(port) < 65536;
    if (colon == 0 || !port_ok || authority.find_first_of(" \t") != std::string::npos) {
      fail_usage("remote.url", "'" + url + "': a gRPC URL is grpc://HOST:PORT[/MODEL[/VERSION]]");
    }
    target_ = authority;
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(
        static_cast<int>(std::min<size_t>(options.max_body_bytes, INT_MAX)));
    arguments.SetMaxSendMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), arguments);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }

  ~GrpcTransport() override {
    queue_.Shutdown();
    void* tag;
    bool ok;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  TransportResponse send(const TransportRequest& request) override {
    const auto start = Clock::now();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(options_.timeout_ms));
    Headers metadata;
    for (const auto& [name, value] : request.headers) metadata.emplace_back(lowercase(name), value);
    for (const auto& [name, value] : options_.extra_headers) {
      const std::string key = lowercase(name);
      metadata.erase(std::remove_if(metadata.begin(), metadata.end(),
                                    [&](const auto& entry) { return entry.first == key; }),
                     metadata.end());
      metadata.emplace_back(key, value);
    }
    for (const auto& [key, value] : metadata) {
      if (sendable(key, value)) context.AddMetadata(key, value);
    }

    grpc::Slice slice(request.body.data(), request.body.size());
    const grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response_buffer;
    grpc::Status status;
    auto call = stub_->PrepareUnaryCall(&context, request.path, request_buffer, &queue_);
    call->StartCall();
    call->Finish(&response_buffer, &status, this);
    void* tag = nullptr;
    bool ok = false;
    if (!queue_.Next(&tag, &ok) || tag != this) {
      fail_remote("remote.unreachable", describe() + ": the gRPC completion queue failed");
    }
    TransportResponse response;
    response.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const grpc::StatusCode code = status.error_code();
    const std::string where = describe() + " " + request.path;
    if (code == grpc::StatusCode::DEADLINE_EXCEEDED &&
        response.elapsed_ms >= options_.timeout_ms * 0.9) {
      fail_remote("remote.timeout",
                  where + ": no answer within " + std::to_string(options_.timeout_ms) + " ms");
    }
    if (code == grpc::StatusCode::UNAVAILABLE && channel_->GetState(false) != GRPC_CHANNEL_READY) {
      fail_remote("remote.unreachable",
                  where + ": cannot connect (" + status.error_message() + ")");
    }
    if (code == grpc::StatusCode::RESOURCE_EXHAUSTED &&
        status.error_message().find("larger than max") != std::string::npos) {
      fail_remote("remote.too_large", where + ": the response is larger than " +
                                          std::to_string(options_.max_body_bytes >> 20) +
                                          " MiB (--max-response-mb): " + status.error_message());
    }
    response.status = http_status_of(code);
    response.status_text = std::string(code_name(code)) +
                           (status.error_message().empty() ? "" : ": " + status.error_message());
    append_metadata(context.GetServerInitialMetadata(), &response.headers);
    append_metadata(context.GetServerTrailingMetadata(), &response.headers);
    if (status.ok()) {
      grpc::Slice single;
      if (!response_buffer.DumpToSingleSlice(&single).ok() && response_buffer.Length() != 0) {
        fail_remote("remote.parse", where + ": the response message could not be read");
      }
      response.body.assign(reinterpret_cast<const char*>(single.begin()), single.size());
    }
    return response;
  }

  std::string describe() const override { return "grpc://" + target_ + path_; }
  // The URL's path names the model ("/simple"); the codec reads it from the URL and sends every
  // call to its method, so for messages "grpc://host:port/simple" names the call well.
  std::string url_path() const override { return path_; }

 private:
  TransportOptions options_;
  std::string target_, path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  grpc::CompletionQueue queue_;
};

}  // namespace
}  // namespace replay

extern "C" __attribute__((visibility("default"))) replay::Transport* replay_grpc_open(
    const char* url, const replay::TransportOptions* options) {
  return new replay::GrpcTransport(url, *options);
}
