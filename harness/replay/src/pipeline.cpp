// The pipeline's factories (pipeline.h): the registry of step types, the default preprocessor
// and the built-in postprocessors. The tabular preprocessor lives in adapters/preprocess/ and
// is registered by register_builtin_adapters() (adapters/register.h).
//
// Postprocessors read the FIRST output tensor only (a model with several outputs puts its
// scores first, or registers its own postprocessor); identity passes every output through.

#include "harness/json_text.h"
#include "harness/pipeline.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "harness/error.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

using nlohmann::json;

[[noreturn]] void bad_spec(const char* section, const std::string& pointer,
                           const std::string& message) {
  fail_input(std::string("config.") + section, (pointer.empty() ? "" : pointer + ": ") + message);
}

void check_keys(const char* section, const json& spec, std::initializer_list<const char*> known) {
  for (const auto& item : spec.items()) {
    bool ok = false;
    for (const char* key : known) ok = ok || item.key() == key;
    if (!ok) bad_spec(section, "/" + item.key(), "unknown key");
  }
}

std::string a_type(const json& value) {
  const std::string name = value.type_name();
  return (name == "array" || name == "object" ? "an " : "a ") + name;
}

// ---- Default preprocessor ----------------------------------------------------------------

// A null among nested numbers is most likely a missing feature; tensor_from_json would make
// it NaN silently, so the default preprocessor refuses it.
void reject_nulls(const json& value, const std::string& pointer) {
  if (value.is_null()) {
    fail_input("preprocess.input", pointer + ": expected a number, got null");
  }
  if (!value.is_array()) return;
  for (size_t i = 0; i < value.size(); ++i)
    reject_nulls(value[i], pointer + "/" + std::to_string(i));
}

/// {"input" | "inputs" | "instances": nested numbers or a JSON tensor} -> float32 "input"
/// (a JSON tensor keeps the dtype it states).
class DefaultPreprocessor : public Preprocessor {
 public:
  std::vector<Tensor> run(const json& payload) const override {
    static const char* const kKeys[] = {"input", "inputs", "instances"};
    if (!payload.is_object()) {
      fail_input("preprocess.payload",
                 std::string("(the payload): expected an object with \"input\", \"inputs\" or "
                             "\"instances\", got ") +
                     a_type(payload));
    }
    for (const char* key : kKeys) {
      const auto found = payload.find(key);
      if (found == payload.end()) continue;
      const std::string pointer = std::string("/") + key;
      const bool stated = is_json_tensor_object(*found);
      if (!stated) reject_nulls(*found, pointer);
      Tensor tensor;
      try {
        tensor = tensor_from_json("input", *found, pointer);
      } catch (const Error& error) {
        if (error.id() != "tensor.json") throw;
        fail_input("preprocess.input", error.message());
      }
      if (stated) return {tensor};
      Tensor input =
          Tensor::from_doubles("input", DType::kFloat32, tensor.shape(), tensor.to_doubles());
      input.set_dtype_inferred(false);
      return {input};
    }
    std::string keys;
    for (const auto& item : payload.items())
      keys += (keys.empty() ? "" : ", ") + json(item.key()).dump();
    fail_input("preprocess.payload",
               "(the payload): none of \"input\", \"inputs\", \"instances\" (keys: " +
                   (keys.empty() ? std::string("none") : keys) +
                   "); set \"preprocess\" in the config for other payloads");
  }
};

// ---- Postprocessors ------------------------------------------------------------------------

const Tensor& first_output(const std::vector<Tensor>& outputs, const char* step) {
  if (outputs.empty()) fail_input(std::string("postprocess.") + step, "the model gave no outputs");
  return outputs.front();
}

class IdentityPostprocessor : public Postprocessor {
 public:
  std::vector<Tensor> run(const std::vector<Tensor>& outputs) const override { return outputs; }
};

/// Index of the largest value along `axis` of the first output -> int64 "prediction" (that axis
/// removed). Ties give the first index; a NaN counts as the largest, as in torch and numpy.
class ArgmaxPostprocessor : public Postprocessor {
 public:
  explicit ArgmaxPostprocessor(int64_t axis) : axis_(axis) {}

  std::vector<Tensor> run(const std::vector<Tensor>& outputs) const override {
    const Tensor& scores = first_output(outputs, "argmax");
    const std::vector<int64_t>& shape = scores.shape();
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank) {
      fail_input("postprocess.argmax", "axis " + std::to_string(axis_) +
                                           " is out of range for output '" + scores.name() +
                                           "' of shape " + shape_string(shape));
    }
    const int64_t classes = shape[axis];
    if (classes == 0) {
      fail_input("postprocess.argmax", "output '" + scores.name() + "' of shape " +
                                           shape_string(shape) + " has no classes on axis " +
                                           std::to_string(axis));
    }
    int64_t outer = 1;
    int64_t inner = 1;
    std::vector<int64_t> label_shape;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer *= shape[d];
      if (d > axis) inner *= shape[d];
      if (d != axis) label_shape.push_back(shape[d]);
    }
    const std::vector<double> values = scores.to_doubles();
    Tensor labels = Tensor::zeros("prediction", DType::kInt64, label_shape);
    int64_t* out = labels.mutable_data_as<int64_t>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const double* base = values.data() + o * classes * inner + i;
        int64_t best = 0;
        for (int64_t c = 1; c < classes && !std::isnan(base[best * inner]); ++c) {
          const double value = base[c * inner];
          if (std::isnan(value) || value > base[best * inner]) best = c;
        }
        out[o * inner + i] = best;
      }
    }
    return {labels};
  }

 private:
  int64_t axis_;
};

/// 1 where the first output (after an optional sigmoid) is strictly greater than the
/// threshold, as sklearn's predict (decision_function > 0), else 0 -> int64 "prediction", same shape.
class ThresholdPostprocessor : public Postprocessor {
 public:
  ThresholdPostprocessor(double threshold, bool sigmoid)
      : threshold_(threshold), sigmoid_(sigmoid) {}

  std::vector<Tensor> run(const std::vector<Tensor>& outputs) const override {
    const Tensor& scores = first_output(outputs, "threshold");
    const std::vector<double> values = scores.to_doubles();
    Tensor labels = Tensor::zeros("prediction", DType::kInt64, scores.shape());
    int64_t* out = labels.mutable_data_as<int64_t>();
    for (size_t i = 0; i < values.size(); ++i) {
      const double value = sigmoid_ ? 1.0 / (1.0 + std::exp(-values[i])) : values[i];
      out[i] = value > threshold_ ? 1 : 0;
    }
    return {labels};
  }

 private:
  double threshold_;
  bool sigmoid_;
};

/// No spec: argmax over the classes of a [batch, classes > 1] floating output, else identity.
class DefaultPostprocessor : public Postprocessor {
 public:
  std::vector<Tensor> run(const std::vector<Tensor>& outputs) const override {
    if (!outputs.empty()) {
      const Tensor& first = outputs.front();
      if (first.shape().size() == 2 && first.shape()[1] > 1 && dtype_is_floating(first.dtype())) {
        return ArgmaxPostprocessor(-1).run(outputs);
      }
    }
    return outputs;
  }
};

// ---- Registry ------------------------------------------------------------------------------

std::map<std::string, PreprocessorFactory>& preprocessors() {
  static std::map<std::string, PreprocessorFactory> registry = {
      {"default",
       [](const json& spec) -> std::unique_ptr<Preprocessor> {
         check_keys("preprocess", spec, {"type"});
         return std::make_unique<DefaultPreprocessor>();
       }},
  };
  return registry;
}

std::map<std::string, PostprocessorFactory>& postprocessors() {
  static std::map<std::string, PostprocessorFactory> registry = {
      {"identity",
       [](const json& spec) -> std::unique_ptr<Postprocessor> {
         check_keys("postprocess", spec, {"type"});
         return std::make_unique<IdentityPostprocessor>();
       }},
      {"argmax",
       [](const json& spec) -> std::unique_ptr<Postprocessor> {
         check_keys("postprocess", spec, {"type", "axis"});
         int64_t axis = -1;
         if (spec.contains("axis")) {
           if (!spec["axis"].is_number_integer()) {
             bad_spec("postprocess", "/axis", "expected an integer, got " + spec["axis"].dump());
           }
           const std::optional<int64_t> given = json_integer(spec["axis"], -64, 63);
           if (!given) {
             bad_spec("postprocess", "/axis",
                      "expected an axis (-64..63), got " + spec["axis"].dump());
           }
           axis = *given;
         }
         return std::make_unique<ArgmaxPostprocessor>(axis);
       }},
      {"threshold",
       [](const json& spec) -> std::unique_ptr<Postprocessor> {
         check_keys("postprocess", spec, {"type", "threshold", "apply"});
         double threshold = 0.5;
         if (spec.contains("threshold")) {
           if (!spec["threshold"].is_number()) {
             bad_spec("postprocess", "/threshold",
                      "expected a number, got " + spec["threshold"].dump());
           }
           threshold = spec["threshold"].get<double>();
         }
         bool sigmoid = false;
         if (spec.contains("apply")) {
           const json& apply = spec["apply"];
           if (apply != "sigmoid" && apply != "none") {
             bad_spec("postprocess", "/apply",
                      "expected \"sigmoid\" or \"none\", got " + apply.dump());
           }
           sigmoid = apply == "sigmoid";
         }
         return std::make_unique<ThresholdPostprocessor>(threshold, sigmoid);
       }},
  };
  return registry;
}

std::string known_types(const std::map<std::string, PreprocessorFactory>& registry) {
  std::string names;
  for (const auto& entry : registry) names += (names.empty() ? "" : ", ") + entry.first;
  return names;
}
std::string known_types(const std::map<std::string, PostprocessorFactory>& registry) {
  std::string names;
  for (const auto& entry : registry) names += (names.empty() ? "" : ", ") + entry.first;
  return names;
}

// The spec's "type", or "" when it has none; an error when it is not a string.
std::string spec_type(const char* section, const json& spec) {
  if (!spec.is_object()) {
    bad_spec(section, "", "expected an object or null, got " + a_type(spec));
  }
  if (!spec.contains("type")) return "";
  if (!spec["type"].is_string())
    bad_spec(section, "/type", "expected a string, got " + spec["type"].dump());
  return spec["type"].get<std::string>();
}

}  // namespace

std::unique_ptr<Preprocessor> make_preprocessor(const json& spec) {
  if (spec.is_null()) return std::make_unique<DefaultPreprocessor>();
  std::string type = spec_type("preprocess", spec);
  // Without a type, the spec's keys are the tabular ones ("rows", "columns", "output").
  if (type.empty()) type = "tabular";
  const auto& registry = preprocessors();
  const auto found = registry.find(type);
  if (found == registry.end()) {
    bad_spec("preprocess", "/type",
             "unknown preprocessor \"" + type + "\" (known: " + known_types(registry) + ")");
  }
  return found->second(spec);
}

std::unique_ptr<Postprocessor> make_postprocessor(const json& spec) {
  if (spec.is_null()) return std::make_unique<DefaultPostprocessor>();
  const std::string type = spec_type("postprocess", spec);
  if (type.empty())
    bad_spec("postprocess", "/type", "missing (known: " + known_types(postprocessors()) + ")");
  const auto& registry = postprocessors();
  const auto found = registry.find(type);
  if (found == registry.end()) {
    bad_spec("postprocess", "/type",
             "unknown postprocessor \"" + type + "\" (known: " + known_types(registry) + ")");
  }
  return found->second(spec);
}

void register_preprocessor(const std::string& type, PreprocessorFactory factory) {
  preprocessors()[type] = std::move(factory);
}

void register_postprocessor(const std::string& type, PostprocessorFactory factory) {
  postprocessors()[type] = std::move(factory);
}

}  // namespace replay
