// The recording reverse proxy (adapters/record.h) over cpp-httplib's server; the upstream is
// reached through the Transport for its URL, one transport per request in flight (a pool).
//
// An upstream URL with a path (http://model:8080/v1) puts it before each request's target.
// What is passed through unchanged: the method, the request target (path and query as sent),
// the end-to-end headers and the body; the upstream's status code, end-to-end headers and body.
// Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, Content-Length, ...) belong to
// each connection and are set by each side. Content codings are not negotiated through the
// proxy: it asks the upstream for the identity coding (no Accept-Encoding) and answers with it,
// so that the recorded response body is the one the client reads.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <random>
#include <vector>

#include "adapters/record.h"
#include "harness/capture_writer.h"
#include "harness/error.h"
#include "harness/transport.h"
#include "http/record_common.h"

namespace replay {

struct RecordProxy::Impl {
  RecordProxyOptions options;
  std::unique_ptr<AsyncCaptureWriter> writer;
  httplib::Server server;
  TransportOptions transport_options;
  std::mutex pool_mutex;
  std::vector<std::unique_ptr<Transport>> pool;  // idle transports
  std::atomic<uint64_t> requests{0}, recorded{0}, not_sampled{0}, upstream_errors{0};
  std::atomic<uint64_t> sequence{0};
  std::string base_path;  // the upstream URL's path, put before each request's target
  bool served = false;

  std::unique_ptr<Transport> acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      if (!pool.empty()) {
        std::unique_ptr<Transport> transport = std::move(pool.back());
        pool.pop_back();
        return transport;
      }
    }
    return make_transport(options.upstream_url, transport_options);
  }

  void release(std::unique_ptr<Transport> transport) {
    std::lock_guard<std::mutex> lock(pool_mutex);
    pool.push_back(std::move(transport));
  }

  bool sampled() {
    if (options.sample >= 1.0) return true;
    if (options.sample <= 0.0) return false;
    thread_local std::mt19937_64 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator) < options.sample;
  }

  void handle(const httplib::Request& request, httplib::Response& response) {
    const auto start = std::chrono::steady_clock::now();
    ++requests;
    TransportRequest forward;
    forward.method = request.method;
    const std::string target = request.target.empty() ? request.path : request.target;
    forward.path = base_path + target;
    for (const auto& [name, value] : request.headers) {
      if (record_detail::is_hop_by_hop(name) || record_detail::is_server_pseudo_header(name) ||
          record_detail::same_name(name, "Accept-Encoding")) {
        continue;
      }
      forward.headers.emplace_back(name, value);
    }
    forward.body = request.body;

    TransportResponse upstream;
    std::string failure;
    int failure_status = 0;
    std::unique_ptr<Transport> transport = acquire();
    try {
      upstream = transport->send(forward);
    } catch (const Error& error) {
      failure = error.message();
      failure_status = error.id() == "remote.timeout" ? 504 : 502;
      ++upstream_errors;
    }
    release(std::move(transport));
    const double upstream_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    if (failure.empty()) {
      response.status = upstream.status;
      for (const auto& [name, value] : upstream.headers) {
        if (record_detail::is_hop_by_hop(name)) continue;
        response.headers.emplace(name, value);
      }
      response.body = upstream.body;
    } else {
      response.status = failure_status;
      response.set_content(record_detail::error_body("record.upstream", failure),
                           "application/json");
    }

    if (!sampled()) {
      ++not_sampled;
      return;
    }
    Capture capture;
    capture.id = "rec-" + record_detail::utc_compact_now() + "-" + std::to_string(++sequence);
    capture.origin = "record";
    capture.request.method = forward.method;
    capture.request.path = target;
    capture.request.headers = forward.headers;
    capture.request.body = std::move(forward.body);
    capture.meta["source_format"] = "record";
    capture.meta["recorded_at"] = record_detail::utc_iso_now();
    capture.meta["upstream_ms"] = upstream_ms;
    if (failure.empty()) {
      CapturedResponse captured;
      captured.status = upstream.status;
      for (const auto& header : upstream.headers) {
        if (!record_detail::is_hop_by_hop(header.first)) captured.headers.push_back(header);
      }
      captured.body = std::move(upstream.body);
      capture.response = std::move(captured);
    } else {
      capture.meta["unpaired"] = "no response: " + failure;
    }
    writer->push(std::move(capture));
    ++recorded;
  }
};

RecordProxy::RecordProxy(const RecordProxyOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.options = options;
  check_redaction_policy(options.redaction);
  impl.transport_options.timeout_ms = options.upstream_timeout_ms;
  impl.transport_options.max_body_bytes = options.max_body_bytes;
  std::unique_ptr<Transport> first = make_transport(options.upstream_url, impl.transport_options);
  impl.base_path = first->url_path();  // checks the URL too
  while (!impl.base_path.empty() && impl.base_path.back() == '/') impl.base_path.pop_back();
  impl.release(std::move(first));
  CaptureWriterOptions writer_options;
  writer_options.rotate_bytes = options.rotate_bytes;
  const RedactionPolicy policy = options.redaction;
  impl.writer = std::make_unique<AsyncCaptureWriter>(options.out_path, writer_options,
                                                     [policy](Capture& capture) {
                                                       if (!policy.empty())
                                                         redact_capture(policy, &capture);
                                                     });
  record_detail::configure_server(impl.server, options.max_body_bytes, options.threads);
  const auto handler = [&impl](const httplib::Request& request, httplib::Response& response) {
    record_detail::disable_response_compression(request);
    try {
      impl.handle(request, response);
    } catch (const std::exception& error) {
      response.status = 500;
      response.set_content(record_detail::error_body("record.internal", error.what()),
                           "application/json");
    }
  };
  impl.server.Get(".*", handler);
  impl.server.Post(".*", handler);
  impl.server.Put(".*", handler);
  impl.server.Patch(".*", handler);
  impl.server.Delete(".*", handler);
  impl.server.Options(".*", handler);
}

RecordProxy::~RecordProxy() {
  stop();
  try {
    impl_->writer->close();
  } catch (const Error&) {
  }
}

int RecordProxy::bind(const std::string& host, int port) {
  return record_detail::bind_server(impl_->server, host, port);
}

void RecordProxy::serve() {
  impl_->server.listen_after_bind();
  // Every handler has returned: what they pushed is written before the file is closed.
  impl_->writer->close();
}

void RecordProxy::stop() { impl_->server.stop(); }

RecordStats RecordProxy::stats() const {
  RecordStats stats;
  stats.requests = impl_->requests;
  stats.recorded = impl_->recorded;
  stats.not_sampled = impl_->not_sampled;
  stats.upstream_errors = impl_->upstream_errors;
  stats.not_written = impl_->writer->dropped();
  stats.first_not_written = impl_->writer->first_drop_reason();
  return stats;
}

}  // namespace replay
