#pragma once
/// The payload: a request body as the pipeline sees it. A JSON body is parsed as it is; a CSV
/// body (Content-Type text/csv, as SageMaker endpoints and their Data Capture files have it) is
/// read as rows, {"instances": [[cell, ...], ...]}, so that a config addresses its cells by row
/// and column (fields given as integers) and the default preprocessing takes a numeric CSV as is.
///
///   5.1,3.5,1.4,0.2\n6.2,"a,b",,x   ->   {"instances": [[5.1, 3.5, 1.4, 0.2], [6.2, "a,b", null,
///   "x"]]}
///
/// CSV follows RFC 4180 (quoted cells with "" for a quote, CRLF or LF line ends). A cell that is a
/// JSON number becomes that number (7 and 7.0 stay distinct), an empty cell null, any other cell a
/// string. Blank lines are skipped.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "harness/transport.h"

namespace replay {

/// True when the Content-Type header (any case) names text/csv.
bool is_csv_content_type(const Headers& headers);

/// The payload of a body sent with `headers`. `where` names the body in messages ("c.json:
/// request body"). Throws Error kInput "<area>.parse" with line and column (JSON), or with the
/// line (CSV: an unterminated quote).
nlohmann::json parse_payload(const std::string& body, const Headers& headers,
                             const std::string& where, const std::string& area);

/// The CSV reading above, alone.
nlohmann::json parse_csv_payload(std::string_view text, const std::string& where,
                                 const std::string& area);

}  // namespace replay
