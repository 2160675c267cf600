// The TorchScript preprocessor (torchscript.h): a payload's records as columns, through a
// scripted module run by the local backend.
#include "torchscript.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "harness/error.h"
#include "harness/json_text.h"

namespace replay {
namespace {

using nlohmann::json;

[[noreturn]] void bad_spec(const std::string& pointer, const std::string& message) {
  fail_input("config.preprocess", pointer + ": " + message);
}

enum class Form { kTensor, kNumbers, kNumbersAndStrings };

Form form_of(const ModelInfo& info) {
  const auto& arguments = info.forward.arguments;
  if (arguments.size() == 1 && arguments[0].type == "Tensor") return Form::kTensor;
  if (!arguments.empty() && arguments[0].type == "Dict[str, Tensor]") {
    if (arguments.size() == 1) return Form::kNumbers;
    if (arguments.size() == 2 && arguments[1].type == "Dict[str, List[str]]") {
      return Form::kNumbersAndStrings;
    }
  }
  bad_spec("/path", info.path + ": " + info.forward.text +
                        " is not a preprocessing module's forward: expected forward(numbers: "
                        "Dict[str, Tensor]), forward(numbers: Dict[str, Tensor], strings: "
                        "Dict[str, List[str]]) or forward(x: Tensor)");
}

std::string type_phrase(const json& value) {
  if (value.is_string()) return "a string";
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  return std::string("a ") + value.type_name();
}

// One field's values across the rows.
struct Column {
  std::string name;
  bool numeric = false;
  bool strings = false;
  int64_t width = 0;          // numbers per row; 0 = a scalar per row
  std::string first_pointer;  // where its kind was decided, for messages
};

class TorchScriptPreprocessor final : public Preprocessor {
 public:
  TorchScriptPreprocessor(const json& spec, std::shared_ptr<const BackendFactory> backend) {
    if (!spec.is_object()) bad_spec("", "expected an object");
    for (const auto& item : spec.items()) {
      const std::string& key = item.key();
      if (key != "type" && key != "path" && key != "rows" && key != "output") {
        bad_spec("/" + json_pointer_token(key), "unknown key (type, path, rows, output)");
      }
    }
    if (!spec.contains("path") || !spec["path"].is_string() ||
        spec["path"].get<std::string>().empty()) {
      bad_spec("/path", "expected the TorchScript module's path");
    }
    if (spec.contains("rows")) {
      if (!spec["rows"].is_string()) bad_spec("/rows", "expected a JSON pointer");
      rows_text_ = spec["rows"].get<std::string>();
      try {
        rows_ = json::json_pointer(rows_text_);
      } catch (const json::exception&) {
        bad_spec("/rows", "'" + rows_text_ + "' is not a JSON pointer");
      }
      if (!json_pointer_problem(rows_text_).empty()) {
        bad_spec("/rows", "'" + rows_text_ + "': " + json_pointer_problem(rows_text_));
      }
    }
    if (spec.contains("output")) {
      const json& output = spec["output"];
      if (!output.is_object() || !output.contains("name") || !output["name"].is_string() ||
          output.size() != 1) {
        bad_spec("/output", "expected {\"name\": \"...\"}");
      }
      output_name_ = output["name"].get<std::string>();
    }
    backend_ = backend->open(spec["path"].get<std::string>(), BackendOptions{});
    form_ = form_of(backend_->info());
    if (form_ == Form::kTensor) default_ = make_preprocessor(nullptr);
  }

  std::vector<Tensor> run(const json& payload) const override {
    std::vector<Tensor> outputs;
    if (form_ == Form::kTensor) {
      const std::vector<Tensor> inputs = default_->run(payload);
      std::lock_guard<std::mutex> lock(mutex_);
      outputs = backend_->run(inputs);
    } else {
      const RecordBatch records = columns(payload);
      std::lock_guard<std::mutex> lock(mutex_);
      outputs = backend_->run_records(records);
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string& name = outputs[i].name();
      if (name == "output") {
        outputs[i].set_name(output_name_);
      } else if (name.rfind("output", 0) == 0 &&
                 name.find_first_not_of("0123456789", 6) == std::string::npos) {
        outputs[i].set_name(output_name_ + name.substr(6));
      }
    }
    return outputs;
  }

 private:
  RecordBatch columns(const json& payload) const {
    const json* found = nullptr;
    try {
      found = &payload.at(rows_);
    } catch (const json::exception&) {
      fail_input("preprocess.rows", (rows_text_.empty() ? "(the payload)" : rows_text_) +
                                        ": not in the payload (the spec's \"rows\")");
    }
    const json& rows = *found;
    if (!rows.is_array()) {
      fail_input("preprocess.rows",
                 rows_text_ + ": expected a list of records, got " + type_phrase(rows));
    }
    // Fields in order of first appearance, each classified by the values it holds.
    std::vector<Column> columns;
    std::map<std::string, size_t> index;
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::string row_pointer = rows_text_ + "/" + std::to_string(r);
      if (!rows[r].is_object()) {
        fail_input("preprocess.row",
                   row_pointer + ": expected a record (an object), got " + type_phrase(rows[r]));
      }
      for (const auto& item : rows[r].items()) {
        const std::string pointer = row_pointer + "/" + json_pointer_token(item.key());
        auto [at, inserted] = index.emplace(item.key(), columns.size());
        if (inserted) columns.push_back({item.key(), false, false, 0, ""});
        Column& column = columns[at->second];
        const json& value = item.value();
        if (value.is_null()) continue;
        const bool is_number = value.is_number() || value.is_boolean();
        const bool is_vector = value.is_array();
        if (!is_number && !is_vector && !value.is_string()) {
          fail_input("preprocess.value", pointer +
                                             ": expected a number, a string or a list of "
                                             "numbers, got " +
                                             type_phrase(value));
        }
        if (value.is_string() ? column.numeric : column.strings) {
          fail_input("preprocess.value", pointer + ": field '" + column.name + "' holds " +
                                             type_phrase(value) + " here but " +
                                             (column.numeric ? "numbers" : "strings") + " at " +
                                             column.first_pointer);
        }
        if (column.first_pointer.empty()) column.first_pointer = pointer;
        if (value.is_string()) {
          column.strings = true;
          continue;
        }
        column.numeric = true;
        const int64_t width = is_vector ? static_cast<int64_t>(value.size()) : 0;
        if (column.width != width && column.first_pointer != pointer) {
          fail_input("preprocess.value", pointer + ": field '" + column.name + "' holds " +
                                             std::to_string(width) + " number(s) here and " +
                                             std::to_string(column.width) + " at " +
                                             column.first_pointer);
        }
        column.width = width;
      }
    }

    RecordBatch batch;
    const int64_t count = static_cast<int64_t>(rows.size());
    for (const Column& column : columns) {
      if (column.strings) {
        if (form_ != Form::kNumbersAndStrings) continue;  // a numbers-only module ignores them
        std::vector<std::string> values;
        values.reserve(rows.size());
        for (const json& row : rows) {
          const auto value = row.find(column.name);
          values.push_back(value != row.end() && value->is_string() ? value->get<std::string>()
                                                                    : std::string());
        }
        batch.strings.emplace_back(column.name, std::move(values));
        continue;
      }
      const int64_t width = std::max<int64_t>(column.width, 1);
      std::vector<int64_t> shape = {count};
      if (column.width > 0) shape.push_back(column.width);
      std::vector<double> values(static_cast<size_t>(count * width),
                                 std::numeric_limits<double>::quiet_NaN());
      for (int64_t r = 0; r < count; ++r) {
        const auto value = rows[r].find(column.name);
        if (value == rows[r].end() || value->is_null()) continue;
        const std::string pointer =
            rows_text_ + "/" + std::to_string(r) + "/" + json_pointer_token(column.name);
        const auto number = [&](const json& element, const std::string& where) {
          if (element.is_boolean()) return element.get<bool>() ? 1.0 : 0.0;
          if (!element.is_number()) {
            fail_input("preprocess.value",
                       where + ": expected a number, got " + type_phrase(element));
          }
          return element.get<double>();
        };
        if (column.width == 0) {
          values[static_cast<size_t>(r)] = number(*value, pointer);
        } else {
          for (int64_t k = 0; k < column.width; ++k) {
            values[static_cast<size_t>(r * width + k)] =
                number((*value)[static_cast<size_t>(k)], pointer + "/" + std::to_string(k));
          }
        }
      }
      batch.numbers.push_back(Tensor::from_doubles(column.name, DType::kFloat64, shape, values));
    }
    return batch;
  }

  std::string rows_text_ = "/instances";
  json::json_pointer rows_{"/instances"};
  std::string output_name_ = "features";
  std::unique_ptr<LocalBackend> backend_;
  std::unique_ptr<Preprocessor> default_;
  Form form_ = Form::kNumbers;
  mutable std::mutex mutex_;  // LocalBackend::run is not thread-safe; run() is const and shared
};

}  // namespace

std::unique_ptr<Preprocessor> make_torchscript_preprocessor(
    const json& spec, std::shared_ptr<const BackendFactory> backend) {
  return std::make_unique<TorchScriptPreprocessor>(spec, std::move(backend));
}

}  // namespace replay
