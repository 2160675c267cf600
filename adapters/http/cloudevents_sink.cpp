// The CloudEvents sink of `replay record --sink` (adapters/record.h): KServe's payload logger
// POSTs a request event and a response event per inference; they are paired by id
// (harness/cloudevents.h, harness/capture_pairing.h) and written as one capture.

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "adapters/record.h"
#include "harness/capture_pairing.h"
#include "harness/capture_writer.h"
#include "harness/cloudevents.h"
#include "harness/error.h"
#include "http/record_common.h"

namespace replay {

struct RecordSink::Impl {
  RecordSinkOptions options;
  std::unique_ptr<AsyncCaptureWriter> writer;
  httplib::Server server;
  std::mutex mutex;  // guards pairer
  std::unique_ptr<CapturePairer> pairer;
  std::atomic<uint64_t> requests{0}, recorded{0}, unpaired{0}, rejected{0}, ignored{0};
  // The expiry thread: writes request events whose response did not come in time.
  std::mutex expiry_mutex;
  std::condition_variable expiry_wake;
  bool stopping = false;
  std::thread expiry;

  void write(Capture capture) {
    if (capture.meta.contains("unpaired")) ++unpaired;
    ++recorded;
    writer->push(std::move(capture));
  }

  void handle(const httplib::Request& request, httplib::Response& response) {
    ++requests;
    Headers headers;
    for (const auto& [name, value] : request.headers) {
      if (!record_detail::is_server_pseudo_header(name)) headers.emplace_back(name, value);
    }
    std::vector<CloudEvent> events;
    try {
      events = cloudevents_from_http(headers, request.body, "sink " + request.path);
    } catch (const Error& error) {
      ++rejected;
      response.status = 400;
      response.set_content(record_detail::error_body(error.id(), error.message()),
                           "application/json");
      return;
    }
    std::vector<Capture> ready;
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (const CloudEvent& event : events) {
        if (!add_kserve_event(event, "sink", pairer.get())) ++ignored;
      }
      while (std::optional<Capture> capture = pairer->pop_ready()) {
        ready.push_back(std::move(*capture));
      }
    }
    for (Capture& capture : ready) write(std::move(capture));
    response.status = 202;
  }

  void expire_loop() {
    std::unique_lock<std::mutex> lock(expiry_mutex);
    while (!stopping) {
      expiry_wake.wait_for(lock, std::chrono::milliseconds(200));
      if (stopping) break;
      std::vector<Capture> late;
      {
        std::lock_guard<std::mutex> pairer_lock(mutex);
        late = pairer->expire(CapturePairer::Clock::now() - options.pair_timeout);
      }
      for (Capture& capture : late) write(std::move(capture));
    }
  }
};

RecordSink::RecordSink(const RecordSinkOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.options = options;
  check_redaction_policy(options.redaction);
  impl.pairer =
      std::make_unique<CapturePairer>(CapturePairer::Order::kCompletion, options.max_pending);
  CaptureWriterOptions writer_options;
  writer_options.rotate_bytes = options.rotate_bytes;
  const RedactionPolicy policy = options.redaction;
  impl.writer = std::make_unique<AsyncCaptureWriter>(options.out_path, writer_options,
                                                     [policy](Capture& capture) {
                                                       if (!policy.empty())
                                                         redact_capture(policy, &capture);
                                                     });
  record_detail::configure_server(impl.server, options.max_body_bytes, options.threads);
  impl.server.Post(".*", [&impl](const httplib::Request& request, httplib::Response& response) {
    try {
      impl.handle(request, response);
    } catch (const std::exception& error) {
      response.status = 500;
      response.set_content(record_detail::error_body("record.internal", error.what()),
                           "application/json");
    }
  });
  impl.server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"status\": \"ok\"}", "application/json");
  });
}

RecordSink::~RecordSink() {
  stop();
  {
    std::lock_guard<std::mutex> lock(impl_->expiry_mutex);
    impl_->stopping = true;
  }
  impl_->expiry_wake.notify_all();
  if (impl_->expiry.joinable()) impl_->expiry.join();
  try {
    impl_->writer->close();
  } catch (const Error&) {
  }
}

int RecordSink::bind(const std::string& host, int port) {
  return record_detail::bind_server(impl_->server, host, port);
}

void RecordSink::serve() {
  Impl& impl = *impl_;
  impl.expiry = std::thread([&impl] { impl.expire_loop(); });
  impl.server.listen_after_bind();
  {
    std::lock_guard<std::mutex> lock(impl.expiry_mutex);
    impl.stopping = true;
  }
  impl.expiry_wake.notify_all();
  impl.expiry.join();
  // No handler runs any more: what is still waiting for its pair is written, marked.
  std::vector<Capture> pending;
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    pending = impl.pairer->drain();
  }
  for (Capture& capture : pending) impl.write(std::move(capture));
  impl.writer->close();
}

void RecordSink::stop() { impl_->server.stop(); }

RecordStats RecordSink::stats() const {
  RecordStats stats;
  stats.requests = impl_->requests;
  stats.recorded = impl_->recorded;
  stats.unpaired = impl_->unpaired;
  stats.rejected = impl_->rejected;
  stats.ignored = impl_->ignored;
  stats.not_written = impl_->writer->dropped();
  stats.first_not_written = impl_->writer->first_drop_reason();
  return stats;
}

}  // namespace replay
