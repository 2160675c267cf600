#include "json_codec.h"

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/payload.h"
#include "json_fields.h"

namespace replay {
namespace {

class JsonCodec final : public ProtocolCodec {
 public:
  explicit JsonCodec(const ProtocolOptions& options) : options_(options) {}

  std::string name() const override { return "json"; }

  DecodedRequest decode_request(const CapturedRequest& request,
                                const std::string& origin) const override {
    DecodedRequest decoded;
    // JSON, or CSV rows ({"instances": [[...]]}) when the request says text/csv; the remote
    // still gets the captured bytes.
    decoded.payload =
        parse_payload(request.body, request.headers, origin + ": request body", "capture.payload");
    return decoded;
  }

  TransportRequest encode_request(const CapturedRequest& request, const DecodedRequest&,
                                  const std::string& target) const override {
    TransportRequest out;
    out.method = request.method;
    out.path = target;
    out.headers = request.headers;
    out.body = request.body;  // byte for byte: what production received
    return out;
  }

  DecodedResponse decode_response(const TransportResponse& response,
                                  const std::string& where) const override {
    check_response_status(response, where, "");
    // Long arrays of numbers are read packed (json_text.h: 8 bytes a number, not 16 and the
    // vector's slack); json_response_fields reads that form.
    nlohmann::json document;
    try {
      document = parse_json_text(response.body, where + " response", "remote", JsonPacking{{}, true});
    } catch (const Error& error) {
      fail_remote("remote.parse", error.message() + " (the body is not valid JSON; " +
                                      std::to_string(response.body.size()) + " bytes)");
    }
    return json_response_fields(std::move(document), options_, where);
  }

 private:
  ProtocolOptions options_;
};

}  // namespace

std::unique_ptr<ProtocolCodec> make_json_codec(const ProtocolOptions& options) {
  return std::make_unique<JsonCodec>(options);
}

}  // namespace replay
